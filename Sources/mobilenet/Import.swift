import ArgumentParser
import Foundation
import MobileNetCPU

/// `mobilenet import`: weights trained elsewhere as a checkpoint.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Make a checkpoint from a PyTorch state_dict (safetensors) or from an ONNX model `export` wrote.",
        discussion: """
            A state_dict comes from the PyTorch nn.Sequential equivalent to the model (its indices are the \
            checkpoint's names; see Tests/Fixtures/pytorch_models.py), saved with \
            safetensors.torch.save_file(model.state_dict(), FILE); give the model with --model, --alpha, \
            --resolution, --stem, --standard and --classes. An ONNX file carries its model. Every tensor is \
            checked: a missing, misshapen or unexpected one is an error naming it. The checkpoint holds \
            weights only: eval and predict use it, and train --resume starts a new run from it.
            """)

    @Option(help: "A PyTorch state_dict saved as safetensors.")
    var stateDict: String?

    @Option(help: "An ONNX model written by `mobilenet export`.")
    var onnx: String?

    @Option(help: "The checkpoint to write.")
    var output: String

    @OptionGroup var model: ModelOptions

    @OptionGroup var baseline: StandardOption

    @Option(parsing: .unconditional, help: "Number of classes (state_dict). (default: 10)")
    var classes: Int?

    @Option(help: "The class names in label order, comma-separated (default: the ONNX file's, else class 0, class 1, …).")
    var classNames: String?

    func validate() throws {
        guard (stateDict == nil) != (onnx == nil) else { throw ValidationError("give --state-dict or --onnx (one of them)") }
        for path in [stateDict, onnx].compactMap({ $0 }) where !FileManager.default.fileExists(atPath: path) {
            throw ValidationError("no file at \(path)")
        }
        if let classes, classes < 2 { throw ValidationError("--classes must be at least 2, got \(classes)") }
        if onnx != nil,
            model.model != nil || model.alpha != nil || model.resolution != nil || model.stem != nil
                || baseline.standard || classes != nil
        {
            throw ValidationError("an ONNX file records its model: give no model options with --onnx")
        }
    }

    func run() throws {
        let url = URL(fileURLWithPath: output)
        try AtomicFile.checkWritable(url)
        let names = classNames.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let checkpoint: SafeTensors
        let configuration: ModelConfiguration
        if let stateDict {
            configuration = try model.configuration(classes: classes ?? names?.count ?? 10, standard: baseline.standard)
            let file = try SafeTensors(contentsOf: URL(fileURLWithPath: stateDict))
            checkpoint = try CheckpointImport.checkpoint(
                stateDict: file, model: configuration, classNames: names, source: stateDict)
        } else {
            let path = onnx ?? ""
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            let contents = try ONNXImport.read(data, source: path)
            configuration = contents.model
            checkpoint = try CheckpointImport.checkpoint(
                stateDict: contents.stateDict, model: configuration, classNames: names ?? contents.classNames, source: path)
        }
        try checkpoint.write(to: url)
        print("\(configuration.displayName) from \(stateDict ?? onnx ?? "") → \(output)")
    }
}
