import CIFAR
import ConvEngine
import ConvModels
import Foundation
import Testing
import Training

/// The log and the checkpoint record: what a run writes about itself, read back exactly or refused
/// with the key or line at fault.
@Suite struct RunRecordTests {
    static func record() throws -> CheckpointRecord {
        let model = try ModelConfiguration(family: .seed)
        return CheckpointRecord(
            model: model, options: TrainingOptions(model: model, length: .steps(40), batchSize: 8),
            progress: .init(step: 12, position: .init(epoch: 1, batch: 2), bestAccuracy: 0.25, lastAccuracy: 0.2),
            data: .init(classNames: (0..<10).map { "c\($0)" }, source: "s", location: "/data/cifar", fingerprint: 0xDEAD_BEEF))
    }

    @Test func aRecordRoundTripsThroughMetadata() throws {
        let r = try Self.record()
        #expect(try CheckpointRecord(metadata: r.metadata) == r)
        let weightsOnly = CheckpointRecord(model: r.model)
        #expect(try CheckpointRecord(metadata: weightsOnly.metadata) == weightsOnly)
    }

    /// Each malformed key is an error that names it; none falls back to a default.
    @Test(arguments: [
        ("run.normalize", "bogus"), ("run.step", "-1"), ("run.step", "x"), ("run.position", "3"),
        ("run.best_accuracy", "nan"), ("run.batch_size", "-5"), ("data.classes", "[\"a\", \"b\"]"),
        ("data.classes", "not json"), ("data.fingerprint", "zz"), ("model.width_multiplier", "1e30"),
        ("model.resolution", "\(Int.max)"), ("model.classes", "1000000000000000000"), ("run.lr", "inf"),
    ])
    func malformedKeysAreErrorsThatNameThem(_ entry: (key: String, value: String)) throws {
        var m = try Self.record().metadata
        m[entry.key] = entry.value
        let family = entry.key == "model.width_multiplier" ? "mobilenet" : m["model.family"]
        m["model.family"] = family
        do {
            _ = try CheckpointRecord(metadata: m)
            Issue.record("\(entry) was accepted")
        } catch let error as EngineError {
            let key = entry.key.split(separator: ".").last.map(String.init) ?? entry.key
            #expect(
                "\(error)".contains(entry.key) || "\(error)".contains(key.replacingOccurrences(of: "_", with: " ")),
                "\(entry): \(error)")
        }
    }

    @Test func resumingKeepsTheRecordedOptionsAndRefusesConflicts() throws {
        let recorded = try Self.record().options!
        var choices = TrainingOptions.Choices()
        #expect(try choices.resuming(recorded).options == recorded)
        choices.batchSize = 8
        choices.learningRate = recorded.learningRate
        #expect(try choices.resuming(recorded).changes.isEmpty)
        choices.learningRate = 0.05
        #expect(throws: TrainingOptions.OptionError.self) { try choices.resuming(recorded) }
        choices.learningRate = nil
        choices.length = .steps(80)
        let (extended, changes) = try choices.resuming(recorded)
        #expect(extended.length == .steps(80) && changes.count == 1 && changes[0].contains("cosine"))
        choices.family = .mobilenet
        #expect(
            throws: TrainingOptions.OptionError(
                .model, "was seed in the run being resumed, but mobilenet was given (omit it to continue the run as recorded)")
        ) {
            try choices.resuming(recorded)
        }
    }

    /// Events round-trip, NaN included (written as the string "NaN", as JSON has no such number).
    @Test func logEventsRoundTripWithNaN() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("log-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("run.jsonl")
        try Data("{\"event\":\"future\",\"x\":1}\n".utf8).write(to: url)
        let events: [RunEvent] = [
            .step(.init(step: 3, epoch: 0.5, loss: .nan, accuracy: 0.1, lr: 0.1, imagesPerSecond: 10, time: 1)),
            .eval(.init(step: 3, epoch: 0.5, testAccuracy: 0.2, testLoss: .infinity, time: 2)),
            .checkpoint(.init(step: 3, path: "x")),
        ]
        do {
            let log = try RunLog(url: url)
            for e in events { try log.write(e) }
        }
        let text = try String(contentsOf: url, encoding: .utf8)
        #expect(
            text.hasPrefix("{\"event\":\"future\"") && text.contains("\"loss\":\"NaN\"")
                && text.contains("\"test_loss\":\"Infinity\""))
        let (read, torn) = try RunLog.read(url)
        #expect(torn == 0 && read.count == 3)
        if case .step(let s) = read[0] { #expect(s.loss.isNaN) } else { Issue.record("not a step: \(read[0])") }
        #expect(read[1] == events[1] && read[2] == events[2])
        // A line torn by a kill mid-write is left out and counted; one torn in the middle is an error.
        try (Data(text.utf8) + Data("{\"event\":\"st".utf8)).write(to: url)
        #expect(try RunLog.read(url).tornLines == 1)
        try Data(("{\"event\":\"st\n" + text).utf8).write(to: url)
        #expect(throws: EngineError.self) { try RunLog.read(url) }
    }

    /// A log that cannot be written (a full disk: /dev/full) is an error naming the event lost.
    @Test func aFailedLogWriteIsAnError() throws {
        let log = try RunLog(url: URL(fileURLWithPath: "/dev/full"))
        do {
            try log.write(.checkpoint(.init(step: 1, path: "x")))
            Issue.record("writing to /dev/full succeeded")
        } catch let error as EngineError {
            #expect("\(error)".contains("/dev/full") && "\(error)".contains("checkpoint event is lost"), "\(error)")
        }
    }
}
