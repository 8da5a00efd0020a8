import CIFAR
import ConvEngine
import ConvModels
import Foundation

/// Checkpoints made from weights trained elsewhere: a PyTorch `state_dict` of the equivalent
/// `nn.Sequential` (Tests/Fixtures/pytorch_models.py), saved as safetensors with
/// `safetensors.torch.save_file(model.state_dict(), path)`.
///
/// The result is an ordinary checkpoint holding weights only: `eval` and `predict` use it, and
/// `train --resume` starts a new run from its weights.
public enum CheckpointImport {
    /// A checkpoint of `model` holding the tensors of `stateDict`.
    ///
    /// Every tensor of the model must be present under its `nn.Sequential` name, float32, in
    /// PyTorch's shape, and finite, and no other tensor may be; a common `module.` prefix (a model
    /// saved from `DataParallel`) is removed first.
    ///
    /// - Parameters:
    ///   - stateDict: the weights.
    ///   - model: the model they are for.
    ///   - classNames: the class names, in label order (nil: "class 0", "class 1", …).
    ///   - source: names the weights in errors and in the checkpoint's `data.source`.
    /// - Throws: `EngineError.corruptData` naming the tensor that is missing, misshapen, of another
    ///   type, not finite or unexpected; `EngineError.invalidArgument` for class names that do not
    ///   match the model.
    public static func checkpoint(
        stateDict: SafeTensors, model: ModelConfiguration, classNames: [String]? = nil, source: String
    ) throws -> SafeTensors {
        if let classNames {
            try require(
                classNames.count == model.classCount,
                "\(classNames.count) class names for a model of \(model.classCount) classes")
        }
        let network = try model.makeNetwork(maxBatchSize: 1)
        try Checkpoint.restore(withoutCommonPrefix(stateDict), into: network, source: source)
        let kind: ImageDataset.Kind =
            model.classCount == 10 && model.resolution == 32
            ? .cifar10 : model.classCount == 100 && model.resolution == 32 ? .cifar100 : .folder
        let data = CheckpointRecord.DataRecord(
            classNames: classNames ?? (0..<model.classCount).map { "class \($0)" }, source: "imported from \(source)",
            location: nil, fingerprint: nil, kind: kind, fixedSide: kind == .folder ? nil : model.resolution)
        return try Checkpoint.make(
            network: network, optimizer: nil, metadata: CheckpointRecord(model: model, data: data).metadata)
    }

    /// The tensors with the `module.` prefix removed when every name has it.
    static func withoutCommonPrefix(_ file: SafeTensors) -> SafeTensors {
        let prefix = "module."
        guard !file.entries.isEmpty, file.entries.keys.allSatisfy({ $0.hasPrefix(prefix) }) else { return file }
        var stripped = file
        stripped.entries = Dictionary(
            uniqueKeysWithValues: file.entries.map { (String($0.key.dropFirst(prefix.count)), $0.value) })
        return stripped
    }
}
