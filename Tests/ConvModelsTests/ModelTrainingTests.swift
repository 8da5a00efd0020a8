import ConvEngine
import ConvModels
import Foundation
import Testing

@Suite struct ModelTrainingTests {
    static let models: [(String, ModelConfiguration)] = [
        ("SeedNet", try! ModelConfiguration(family: .seed)),
        ("SeedNet standard", try! ModelConfiguration(family: .seed, standard: true)),
        ("MobileNet 0.25 cifar", try! ModelConfiguration(family: .mobilenet, widthMultiplier: 0.25, stem: .cifar)),
        (
            "MobileNet 0.25 cifar standard",
            try! ModelConfiguration(family: .mobilenet, widthMultiplier: 0.25, stem: .cifar, standard: true)
        ),
        (
            "MobileNet 0.25 imagenet-64",
            try! ModelConfiguration(family: .mobilenet, widthMultiplier: 0.25, resolution: 64, stem: .imagenet)
        ),
    ]

    @Test(arguments: models)
    func overfitsOneBatch(_ model: (name: String, config: ModelConfiguration)) throws {
        let network = try model.config.makeNetwork(maxBatchSize: 8, seed: 1)
        let optimizer = try Adam(parameters: network.trainableParameters)
        let batch = syntheticBatch(step: 0, batch: 8, side: model.config.resolution, classes: 10)
        let first = try step(network, batch, optimizer, lr: 1e-3)
        var last = first
        for _ in 0..<150 { last = try step(network, batch, optimizer, lr: 1e-3) }
        #expect(first.loss > 1.5, "\(model.name) starts at \(first.loss)")
        #expect(last.loss < 0.05, "\(model.name) ends at \(last.loss)")
        #expect(last.correct == 8)
    }

    /// N steps straight, against N/2 steps, a checkpoint, a new network loaded from it, N/2 more steps:
    /// the weights are bitwise identical.
    @Test(arguments: ["sgd", "adamw"])
    func resumingFromACheckpointIsBitwiseIdentical(_ optimizerKind: String) throws {
        let config = try ModelConfiguration(family: .mobilenet, widthMultiplier: 0.25, stem: .cifar)
        func makeOptimizer(_ network: Sequential) throws -> Optimizer {
            optimizerKind == "sgd"
                ? try SGD(parameters: network.trainableParameters, momentum: 0.9, nesterov: true, weightDecay: .l2(5e-4))
                : try Adam.adamW(parameters: network.trainableParameters)
        }
        let schedule = try LearningRateSchedule(base: 0.05, shape: .cosine(minimum: 0), warmupSteps: 2, totalSteps: 8)
        let straight = try config.makeNetwork(maxBatchSize: 4, seed: 9)
        let straightOptimizer = try makeOptimizer(straight)
        for s in 0..<8 {
            try step(
                straight, syntheticBatch(step: s, batch: 4, side: 32, classes: 10), straightOptimizer, lr: schedule.rate(at: s))
        }

        let first = try config.makeNetwork(maxBatchSize: 4, seed: 9)
        let firstOptimizer = try makeOptimizer(first)
        for s in 0..<4 {
            try step(first, syntheticBatch(step: s, batch: 4, side: 32, classes: 10), firstOptimizer, lr: schedule.rate(at: s))
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("resume-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Checkpoint.save(network: first, optimizer: firstOptimizer, metadata: config.metadata, to: url)

        let file = try SafeTensors(contentsOf: url)
        let resumed = try ModelConfiguration(metadata: file.metadata).makeNetwork(maxBatchSize: 4, seed: 12345)
        let resumedOptimizer = try makeOptimizer(resumed)
        try Checkpoint.restore(file, into: resumed, optimizer: resumedOptimizer)
        #expect(resumedOptimizer.stepCount == 4)
        for s in resumedOptimizer.stepCount..<8 {
            try step(
                resumed, syntheticBatch(step: s, batch: 4, side: 32, classes: 10), resumedOptimizer, lr: schedule.rate(at: s))
        }
        for ((name, a), (_, b)) in zip(straight.namedParameters, resumed.namedParameters) {
            #expect(Array(a.value.buffer) == Array(b.value.buffer), "\(name) differs after resuming")
        }
        for (a, b) in zip(straight.entries, resumed.entries) { #expect(a.layer.counters == b.layer.counters) }
    }
}
