import ArgumentParser
import Foundation
import MobileNetCPU

extension ONNXExport.InputLayout: ExpressibleByArgument {}

/// `mobilenet export`: a checkpoint as an ONNX model.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a checkpoint as an ONNX model (opset \(ONNXExport.opset)) for ONNX Runtime and other serving stacks.",
        discussion: """
            The graph takes `input` [N, 3, H, W] float32 (N dynamic; [N, H, W, 3] with --layout nhwc) and \
            returns `logits` [N, classes]. Depthwise convolutions are Conv with group = C, pointwise 1×1 Conv; \
            batch norm is folded into the convolution before it unless --keep-batchnorm. The input \
            normalisation the model trained with, its class names and its cost beside the standard baseline \
            are in the model's metadata_props; --include-normalization puts the normalisation in the graph, \
            which then takes raw pixel values 0–255. The file is written atomically.
            """)

    @Option(help: "The checkpoint to export.")
    var checkpoint: String

    @Option(help: "The .onnx file to write.")
    var output: String

    @Option(help: "The input's layout: nchw (PyTorch's) or nhwc.")
    var layout = ONNXExport.InputLayout.nchw

    @Flag(help: "Keep BatchNormalization nodes instead of folding batch norm into the convolutions.")
    var keepBatchnorm = false

    @Flag(help: "Start the graph with the input normalisation, so that it takes raw pixel values 0–255.")
    var includeNormalization = false

    @Flag(help: "Print what was written as JSON.")
    var json = false

    func validate() throws {
        if !FileManager.default.fileExists(atPath: checkpoint) { throw ValidationError("--checkpoint: no file at \(checkpoint)") }
    }

    func run() throws {
        let url = URL(fileURLWithPath: output)
        try AtomicFile.checkWritable(url)
        let model = try CheckpointModel(path: checkpoint)
        var options = ONNXExport.Options()
        options.foldBatchNorm = !keepBatchnorm
        options.inputLayout = layout
        options.includeNormalization = includeNormalization
        let export = try ONNXExport(
            network: try model.network(maxBatchSize: 1), configuration: model.configuration,
            normalization: model.normalization(for: model.dataKind), classNames: model.classNames, options: options,
            producerVersion: LibraryInfo.version)
        let data = try export.serializedData()
        try AtomicFile.write(data, to: url)
        if json {
            print(
                try jsonText(["output": output, "bytes": data.count, "opset": ONNXExport.opset, "metadata": try export.metadata]))
            return
        }
        let side = model.configuration.resolution
        let input = layout == .nchw ? "[N, 3, \(side), \(side)]" : "[N, \(side), \(side), 3]"
        print(
            "\(model.configuration.displayName) → \(output) (\(String(format: "%.1f MiB", Double(data.count) / 1_048_576)), opset \(ONNXExport.opset)): "
                + "input \(input) \(includeNormalization ? "raw pixels 0–255" : "normalised"), output logits [N, \(model.configuration.classCount)], "
                + "batch norm \(keepBatchnorm ? "kept" : "folded")")
    }
}
