import ArgumentParser
import Foundation
import MobileNetCPU

/// `mobilenet summary`: a model's cost beside its standard-convolution baseline.
struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per-layer MACs and parameters of a model and its standard-convolution baseline, side by side.",
        discussion:
            "Counted as the MobileNet paper counts: multiply-accumulates (MACs; FLOPs = 2 × MACs) and parameters of convolutions and fully connected layers; batch norm, ReLU and pooling cost nothing."
    )

    @OptionGroup var model: ModelOptions

    @Option(parsing: .unconditional, help: "Number of classes.")
    var classes = 10

    @Flag(help: "Print the tables as JSON.")
    var json = false

    func validate() throws {
        if classes < 2 { throw ValidationError("--classes must be at least 2, got \(classes)") }
        _ = try model.configuration(classes: classes)
    }

    func run() throws {
        let configuration = try model.configuration(classes: classes)
        let comparison = try configuration.costComparison()
        if json {
            func layers(_ cost: ModelCost) -> [[String: Any]] {
                cost.layers.map {
                    [
                        "name": $0.name, "kind": $0.kind, "output": $0.outputShape, "params": $0.parameters,
                        "macs": $0.multiplyAccumulates,
                    ]
                }
            }
            let m = comparison.model, b = comparison.baseline
            print(
                try jsonText([
                    "model": m.name, "configuration": jsonValue(configuration), "macs": m.multiplyAccumulates,
                    "params": m.parameters,
                    "layers": layers(m), "baseline_model": b.name, "baseline_macs": b.multiplyAccumulates,
                    "baseline_params": b.parameters, "baseline_layers": layers(b),
                    "macs_ratio": comparison.macsRatio, "params_ratio": comparison.parameterRatio,
                    "blocks": comparison.blocks.map {
                        [
                            "depthwise": $0.depthwiseName, "pointwise": $0.pointwiseName,
                            "input_channels": $0.inputChannels, "output_channels": $0.outputChannels,
                            "kernel": $0.kernelSize, "output_side": $0.outputSide,
                            "separable_macs": $0.separableMACs, "standard_macs": $0.standardMACs,
                            "ratio": $0.ratio, "predicted_ratio": $0.predictedRatio,
                        ]
                    },
                ]))
            return
        }
        print(CostReport.sideBySide(comparison))
    }
}
