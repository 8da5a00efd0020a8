import ArgumentParser
import Foundation
import MobileNetCPU

/// A checkpoint read for `eval` and `predict`: its record, and its network on demand.
struct CheckpointModel {
    let path: String
    let file: SafeTensors
    let record: CheckpointRecord

    var configuration: ModelConfiguration { record.model }

    /// Reads the checkpoint at `path` and its record.
    ///
    /// - Throws: `EngineError` naming the file and the problem: unreadable, corrupt, or malformed
    ///   metadata.
    init(path: String) throws {
        self.path = path
        file = try SafeTensors(contentsOf: URL(fileURLWithPath: path))
        do { record = try CheckpointRecord(metadata: file.metadata) } catch let error as EngineError {
            throw EngineError.corruptData("\(path): \(error.message)")
        }
        if record.options == nil {
            note("note: \(path) records no training options; assuming mean/std normalisation")
        }
    }

    /// The network with the checkpoint's weights, for batches of up to `maxBatchSize`.
    func network(maxBatchSize: Int) throws -> Sequential {
        let network = try record.model.makeNetwork(maxBatchSize: maxBatchSize)
        try Checkpoint.restore(file, into: network, source: path)
        return network
    }

    /// The class names the checkpoint recorded, else "class 0", "class 1", ….
    var classNames: [String] { record.data?.classNames ?? (0..<configuration.classCount).map { "class \($0)" } }

    /// What kind of data the model was trained on (CIFAR when the checkpoint does not say).
    var dataKind: ImageDataset.Kind { record.data?.kind ?? (configuration.classCount == 100 ? .cifar100 : .cifar10) }

    /// The normalisation the model was trained with (that data's mean/std when the checkpoint records none).
    func normalization(for kind: ImageDataset.Kind) -> Normalization {
        record.options?.pixelNormalization(for: kind) ?? kind.meanStd
    }

    /// How evaluation prepared images for this model: resized to its side when it trained on images
    /// of one size (CIFAR), resized and centre-cropped when sizes varied.
    var evaluationTransform: ImageTransform {
        let variedSizes = record.data != nil && record.data?.fixedSide == nil
        return variedSizes
            ? .resizeCenterCrop(side: configuration.resolution) : .fixedSize(augmentation: nil, side: configuration.resolution)
    }
}
