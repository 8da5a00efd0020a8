import ConvEngine
import ConvModels
import Foundation

/// The checkpoint readers on raw bytes, for the fuzzing harness (`Fuzz/`) and the corpus that
/// `make test` replays: each parses untrusted bytes and either returns or throws `EngineError`,
/// never traps.
@_spi(Fuzzing) public enum RawCheckpointReaders {
    /// A safetensors file: its header, entries and typed accessors.
    public static func safetensors(_ bytes: [UInt8]) {
        guard let file = try? SafeTensors(bytes: bytes, source: "fuzz") else { return }
        for name in file.entries.keys {
            _ = try? file.floats(name)
            _ = try? file.int64s(name)
        }
        metadata(file.metadata)
    }

    /// Checkpoint metadata given as `key=value` lines (the form the metadata corpus is kept in).
    public static func metadataLines(_ bytes: [UInt8]) { metadata(parseLines(bytes)) }

    /// `key=value` lines as a map (lines without "=" are skipped).
    public static func parseLines(_ bytes: [UInt8]) -> [String: String] {
        var m: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            m[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return m
    }

    /// Reads a record from metadata; plans its model, estimates its memory and, when the network
    /// is small, builds it and restores the metadata's checkpoint (without tensors) into it.
    static func metadata(_ m: [String: String]) {
        guard let record = try? CheckpointRecord(metadata: m) else { return }
        _ = try? record.model.costComparison()
        guard let batch = record.options?.batchSize, let bytes = try? record.model.trainingMemory(batchSize: 1),
            bytes < 64 << 20
        else { return }
        _ = try? record.options?.totalSteps(stepsPerEpoch: 1 + batch % 7)
        guard let network = try? record.model.makeNetwork(maxBatchSize: 1) else { return }
        var file = SafeTensors()
        file.metadata = m
        _ = try? Checkpoint.restore(file, into: network)
    }
}
