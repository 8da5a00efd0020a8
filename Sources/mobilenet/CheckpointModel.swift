import ArgumentParser
import Foundation
import MobileNetCPU

/// A network rebuilt from a checkpoint's metadata and loaded with its weights.
struct CheckpointModel {
    let configuration: ModelConfiguration
    let options: TrainingOptions?
    let network: Sequential
    let classNames: [String]

    init(path: String, maxBatchSize: Int) throws {
        let file = try SafeTensors(contentsOf: URL(fileURLWithPath: path))
        configuration = try ModelConfiguration(metadata: file.metadata)
        options = try? TrainingOptions(metadata: file.metadata)
        network = try configuration.makeNetwork(maxBatchSize: maxBatchSize)
        try Checkpoint.restore(file, into: network, source: path)
        let names = file.metadata["data.classes"].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String] }
        classNames = names ?? (0..<configuration.classCount).map { "class \($0)" }
    }

    /// The normalisation the model was trained with (mean/std when unknown).
    func normalization(for variant: CIFARVariant) -> Normalization {
        options?.pixelNormalization(for: variant) ?? (variant == .cifar100 ? .cifar100 : .cifar10)
    }
}
