import CIFAR
import ConvEngine
import ConvModels
import Foundation
import Testing
@_spi(Fuzzing) import Training

/// The checkpoint corpus (Tests/Corpus/safetensors and metadata): every file is read again, none may
/// crash the process, and every input that once crashed (`crash-*`) or is known bad (`bad-*`) is
/// refused with an `EngineError`. Metadata is replayed the way `train --resume` and `eval` meet it:
/// on a real SeedNet checkpoint with Adam state after two steps, whose metadata it replaces.
@Suite struct CheckpointCorpusTests {
    static func files(_ reader: String) -> [URL] {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Corpus/\(reader)")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.sorted().map { folder.appendingPathComponent($0) }
    }

    @Test func everySafetensorsFileIsReadOrRefused() throws {
        for file in Self.files("safetensors") {
            let bytes = [UInt8](try Data(contentsOf: file))
            RawCheckpointReaders.safetensors(bytes)
            if !file.lastPathComponent.hasPrefix("valid-") {
                #expect(throws: EngineError.self, "\(file.lastPathComponent)") { try SafeTensors(bytes: bytes) }
            }
        }
    }

    /// What resuming and evaluating a checkpoint with this metadata does; throws what they throw.
    static func resumeAndEvaluate(_ metadata: [String: String]) throws {
        let model = try ModelConfiguration(family: .seed)
        let network = try model.makeNetwork(maxBatchSize: 8, seed: 1)
        let optimizer = try Adam(parameters: network.trainableParameters)
        var g = RandomGenerator(seed: 2)
        let images = try Tensor(shape: Shape([8, 32, 32, 3]), scalars: (0..<(8 * 3072)).map { _ in g.nextUniform() })
        try network.input.copy(from: images)
        let labels = [Int32](repeating: 1, count: 8)
        for _ in 0..<2 {
            _ = try labels.withUnsafeBufferPointer {
                try network.trainStep(labels: $0, loss: SoftmaxCrossEntropy(), optimizer: optimizer, learningRate: 1e-3)
            }
        }
        var file = try Checkpoint.make(network: network, optimizer: optimizer)
        file.metadata = metadata
        let record = try CheckpointRecord(metadata: file.metadata)
        try Checkpoint.restore(file, into: try record.model.makeNetwork(maxBatchSize: 1))
        guard let options = record.options else { return }
        let data = ImageDataset(try SyntheticShapes.dataset(trainCount: 64, testCount: 16, seed: 0))
        _ = try TrainingRun(options: options, dataset: data, checkpoint: nil, log: RunLog(url: nil), resume: file)
    }

    @Test func everyMetadataFileResumesOrIsRefused() throws {
        let files = Self.files("metadata")
        #expect(files.contains { $0.lastPathComponent.hasPrefix("valid-") })
        for file in files {
            let bytes = [UInt8](try Data(contentsOf: file))
            RawCheckpointReaders.metadataLines(bytes)
            let metadata = RawCheckpointReaders.parseLines(bytes)
            if file.lastPathComponent.hasPrefix("valid-") {
                try Self.resumeAndEvaluate(metadata)
            } else {
                #expect(throws: EngineError.self, "\(file.lastPathComponent)") { try Self.resumeAndEvaluate(metadata) }
            }
        }
    }
}
