import ArgumentParser
import Foundation
import MobileNetCPU

/// `mobilenet summary`: a model's cost beside its standard-convolution baseline.
struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per-layer MACs and parameters of a model and its standard-convolution baseline, side by side.",
        discussion: "Counted as the MobileNet paper counts: multiply-accumulates (MACs; FLOPs = 2 × MACs) and parameters of convolutions and fully connected layers; batch norm, ReLU and pooling cost nothing.")

    @OptionGroup var model: ModelOptions

    @Option(help: "Number of classes.")
    var classes = 10

    @Flag(help: "Print the tables as JSON.")
    var json = false

    func validate() throws {
        if classes < 2 { throw ValidationError("--classes must be at least 2, got \(classes)") }
        _ = try model.configuration(classes: classes)
    }

    func run() throws {
        let comparison = try model.configuration(classes: classes).costComparison()
        if json {
            func layers(_ cost: ModelCost) -> [String: Any] {
                ["name": cost.name, "macs": cost.multiplyAccumulates, "params": cost.parameters,
                 "layers": cost.layers.map { ["name": $0.name, "kind": $0.kind, "output": $0.outputShape, "params": $0.parameters, "macs": $0.multiplyAccumulates] }]
            }
            print(jsonText(["model": layers(comparison.model), "baseline": layers(comparison.baseline),
                            "macs_ratio": comparison.macsRatio, "params_ratio": comparison.parameterRatio,
                            "blocks": comparison.blocks.map { ["depthwise": $0.depthwiseName, "pointwise": $0.pointwiseName,
                                                               "input_channels": $0.inputChannels, "output_channels": $0.outputChannels,
                                                               "kernel": $0.kernelSize, "output_side": $0.outputSide,
                                                               "separable_macs": $0.separableMACs, "standard_macs": $0.standardMACs,
                                                               "ratio": $0.ratio, "predicted_ratio": $0.predictedRatio] }]))
            return
        }
        print(CostReport.sideBySide(comparison))
    }
}

/// The text tables of `summary`.
enum CostReport {
    /// The layers that cost anything, model on the left and baseline on the right, then totals and the
    /// per-block reduction against the paper's 1/N + 1/Dk².
    static func sideBySide(_ c: CostComparison) -> String {
        func rows(_ cost: ModelCost) -> [String] {
            cost.layers.filter { $0.multiplyAccumulates > 0 }.map {
                pad("\($0.name) \($0.kind)", 9) + pad($0.outputShape.map(String.init).joined(separator: "×"), 11)
                    + lpad(millions($0.multiplyAccumulates), 11) + lpad("\($0.parameters)", 10)
            }
        }
        let header = pad("layer", 9) + pad("output", 11) + lpad("MACs", 11) + lpad("params", 10)
        let left = rows(c.model), right = rows(c.baseline), width = 41
        var lines = [pad(c.model.name, width) + "   " + c.baseline.name, header + "   " + header]
        for i in 0..<max(left.count, right.count) {
            lines.append(pad(i < left.count ? left[i] : "", width) + "   " + (i < right.count ? right[i] : ""))
        }
        lines.append(pad("total", 20) + lpad(millions(c.model.multiplyAccumulates), 11) + lpad("\(c.model.parameters)", 10)
                     + "   " + pad("total", 20) + lpad(millions(c.baseline.multiplyAccumulates), 11) + lpad("\(c.baseline.parameters)", 10))
        lines.append("")
        lines.append(String(format: "MACs ratio %.4f (%.1f× fewer), parameter ratio %.4f", c.macsRatio, 1 / c.macsRatio, c.parameterRatio))
        if !c.blocks.isEmpty {
            lines.append("")
            lines.append("separable blocks: MACs against a standard 3×3 convolution with the same channels")
            lines.append(pad("dw+pw", 9) + lpad("M", 6) + lpad("N", 6) + lpad("side", 6) + lpad("separable", 12) + lpad("standard", 12) + lpad("ratio", 9) + lpad("1/N+1/Dk²", 11))
            for b in c.blocks {
                lines.append(pad("\(b.depthwiseName)+\(b.pointwiseName)", 9) + lpad("\(b.inputChannels)", 6) + lpad("\(b.outputChannels)", 6)
                             + lpad("\(b.outputSide)", 6) + lpad(millions(b.separableMACs), 12) + lpad(millions(b.standardMACs), 12)
                             + lpad(String(format: "%.4f", b.ratio), 9) + lpad(String(format: "%.4f", b.predictedRatio), 11))
            }
        }
        return lines.joined(separator: "\n")
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
    static func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? " " + s : String(repeating: " ", count: n - s.count) + s }
}
