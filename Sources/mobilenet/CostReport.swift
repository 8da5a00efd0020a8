import Foundation
import MobileNetCPU

/// The text tables of `summary`, and the column padding the other reports share.
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
        lines.append(
            pad("total", 20) + lpad(millions(c.model.multiplyAccumulates), 11) + lpad("\(c.model.parameters)", 10)
                + "   " + pad("total", 20) + lpad(millions(c.baseline.multiplyAccumulates), 11)
                + lpad("\(c.baseline.parameters)", 10))
        lines.append("")
        lines.append(
            String(format: "MACs ratio %.4f (%.1f× fewer), parameter ratio %.4f", c.macsRatio, 1 / c.macsRatio, c.parameterRatio))
        if !c.blocks.isEmpty {
            lines.append("")
            lines.append("separable blocks: MACs against a standard 3×3 convolution with the same channels")
            lines.append(
                pad("dw+pw", 9) + lpad("M", 6) + lpad("N", 6) + lpad("side", 6) + lpad("separable", 12) + lpad("standard", 12)
                    + lpad("ratio", 9) + lpad("1/N+1/Dk²", 11))
            for b in c.blocks {
                lines.append(
                    pad("\(b.depthwiseName)+\(b.pointwiseName)", 9) + lpad("\(b.inputChannels)", 6)
                        + lpad("\(b.outputChannels)", 6)
                        + lpad("\(b.outputSide)", 6) + lpad(millions(b.separableMACs), 12) + lpad(millions(b.standardMACs), 12)
                        + lpad(String(format: "%.4f", b.ratio), 9) + lpad(String(format: "%.4f", b.predictedRatio), 11))
            }
        }
        return lines.joined(separator: "\n")
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
    static func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? " " + s : String(repeating: " ", count: n - s.count) + s }
}
