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

    /// The normalisation the model was trained with (mean/std when the checkpoint records none).
    func normalization(for variant: CIFARVariant) -> Normalization {
        record.options?.pixelNormalization(for: variant) ?? (variant == .cifar100 ? .cifar100 : .cifar10)
    }
}
