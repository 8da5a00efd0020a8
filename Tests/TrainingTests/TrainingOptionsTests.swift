import CIFAR
import ConvEngine
import ConvModels
import Testing
import Training

@Suite struct TrainingOptionsTests {
    func options() throws -> TrainingOptions {
        TrainingOptions(
            model: try ModelConfiguration(family: .mobilenet, widthMultiplier: 0.5, stem: .cifar, standard: true),
            length: .steps(1234), batchSize: 64, optimizer: .adamw, learningRate: 3e-3, momentum: 0.8,
            nesterov: false, weightDecay: 0.05, schedule: .step, warmupSteps: 100, labelSmoothing: 0.1,
            augment: false, normalization: .seed, seed: 77, evaluateEvery: 200)
    }

    @Test func roundTripThroughCheckpointMetadata() throws {
        let o = try options()
        #expect(try TrainingOptions(metadata: o.metadata) == o)
        var broken = o.metadata
        broken["run.optimizer"] = "lbfgs"
        #expect(throws: EngineError.self) { try TrainingOptions(metadata: broken) }
        broken = o.metadata
        broken["run.batch_size"] = nil
        #expect(throws: EngineError.self) { try TrainingOptions(metadata: broken) }
    }

    /// "step" divides the rate by 10 at 50% and 75% of the steps after warm-up.
    @Test func stepScheduleHasTwoMilestones() throws {
        let schedule = try options().makeSchedule(totalSteps: 1100, stepsPerEpoch: 100)
        #expect(abs(schedule.rate(at: 0) - 3e-5) < 1e-10)  // warm-up: 1/100 of the base, rising to it
        #expect(schedule.rate(at: 100) == 3e-3 && schedule.rate(at: 599) == 3e-3)
        #expect(abs(schedule.rate(at: 600) - 3e-4) < 1e-9 && abs(schedule.rate(at: 849) - 3e-4) < 1e-9)
        #expect(abs(schedule.rate(at: 850) - 3e-5) < 1e-10 && abs(schedule.rate(at: 1099) - 3e-5) < 1e-10)
    }

    @Test func validationNamesTheOption() throws {
        var o = try options()
        o.batchSize = 0
        #expect(throws: TrainingOptions.OptionError(.batchSize, "must be positive, got 0")) { try o.validate() }
        o = try options()
        o.nesterov = true
        #expect(throws: TrainingOptions.OptionError.self) { try o.validate() }
        o = try options()
        o.labelSmoothing = 1
        #expect(throws: TrainingOptions.OptionError(.labelSmoothing, "must be in [0, 1), got 1.0")) { try o.validate() }
        #expect(try options().pixelNormalization(for: .cifar10) == .seed)
    }
}
