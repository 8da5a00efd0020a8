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

    /// The new options round-trip, and metadata written before they existed reads as their
    /// earlier behaviour (decay on every parameter, no average, no Cutout, no recipe, plain evaluation).
    @Test func recipeOptionsRoundTripAndOldMetadataReadsAsBefore() throws {
        var o = try options()
        o.weightDecayScope = .weights
        o.emaDecay = 0.995
        o.cutout = 12
        o.recipe = .cifar10Fast
        o.evaluateFlipped = true
        #expect(try TrainingOptions(metadata: o.metadata) == o)
        var old = try options().metadata
        for key in ["run.weight_decay_on", "run.ema", "run.cutout", "run.recipe", "run.eval_flip"] { old[key] = nil }
        #expect(try TrainingOptions(metadata: old) == options())
        var broken = o.metadata
        broken["run.weight_decay_on"] = "biases"
        #expect(throws: EngineError.self) { try TrainingOptions(metadata: broken) }
        broken = o.metadata
        broken["run.ema"] = "1.5"
        #expect(throws: EngineError.self) { try TrainingOptions(metadata: broken) }
    }

    /// A recipe fills every option not given; a given option wins (and the learning rate and warm-up
    /// follow a given batch); an EMA decay of 0 is no average; a resumed run refuses another average
    /// or Cutout than it recorded.
    @Test func aRecipeFillsWhatIsNotGiven() throws {
        var choices = TrainingOptions.Choices()
        choices.recipe = .cifar10Fast
        let fast = try choices.options(classCount: 10)
        #expect(fast.model.family == .mobilenet && fast.model.widthMultiplier == 0.75 && fast.model.stem == .cifar)
        #expect(fast.length == .epochs(Recipe.cifar10Fast.epochs) && fast.batchSize == 128 && fast.learningRate == 0.1)
        #expect(fast.optimizer == .sgd && !fast.nesterov && fast.schedule == .onecycle && fast.weightDecay == 5e-4)
        #expect(fast.warmupSteps == Recipe.cifar10Fast.epochs / 5 * 390 && fast.labelSmoothing == 0)
        #expect(fast.weightDecayScope == .all && fast.emaDecay == nil && fast.cutout == 0)
        #expect(fast.evaluateFlipped && fast.recipe == .cifar10Fast && fast.model.outputStride == 16)
        choices.outputStride = 8
        #expect(try choices.options(classCount: 10).model.outputStride == 8)
        choices.batchSize = 256
        choices.emaDecay = 0.99
        choices.cutout = 8
        choices.widthMultiplier = 1
        let changed = try choices.options(classCount: 10)
        #expect(changed.learningRate == 0.2 && changed.warmupSteps == Recipe.cifar10Fast.epochs / 5 * 195)
        #expect(changed.emaDecay == 0.99 && changed.model.widthMultiplier == 1 && changed.cutout == 8)
        choices.emaDecay = 0
        #expect(try choices.options(classCount: 10).emaDecay == nil)
        var adam = TrainingOptions.Choices()
        adam.recipe = .cifar10Fast
        adam.optimizer = .adam
        adam.length = .steps(1000)
        let withAdam = try adam.options(classCount: 10)
        #expect(!withAdam.nesterov && withAdam.learningRate == 1e-3 && withAdam.weightDecay == 0)
        #expect(withAdam.schedule == .onecycle && withAdam.warmupSteps == 200)
        // A length whose warm-up would overflow: no trap; the run's step count is the error.
        var endless = TrainingOptions.Choices()
        endless.recipe = .cifar10Fast
        endless.length = .epochs(Int.max)
        let forever = try endless.options(classCount: 10)
        #expect(forever.warmupSteps == 0)
        #expect(throws: TrainingOptions.OptionError.self) { try forever.totalSteps(stepsPerEpoch: 390) }
        var resume = TrainingOptions.Choices()
        resume.cutout = 4
        #expect(throws: TrainingOptions.OptionError.self) { try resume.resuming(fast) }
        resume = TrainingOptions.Choices()
        resume.emaDecay = 0.999
        #expect(throws: TrainingOptions.OptionError.self) { try resume.resuming(fast) }
        resume.emaDecay = 0
        #expect(try resume.resuming(fast).options == fast)
        resume.outputStride = 16
        #expect(try resume.resuming(fast).options == fast)
        resume.outputStride = 8
        #expect(
            throws: TrainingOptions.OptionError(
                .outputStride, "was 16 in the run being resumed, but 8 was given (omit it to continue the run as recorded)")
        ) {
            try resume.resuming(fast)
        }
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
        o = try options()
        o.cutout = 40
        #expect(throws: TrainingOptions.OptionError(.cutout, "must be in 0...32 (the image side), got 40")) { try o.validate() }
        o = try options()
        o.emaDecay = 1
        #expect(throws: TrainingOptions.OptionError.self) { try o.validate() }
        #expect(try options().pixelNormalization(for: .cifar10) == .seed)
    }
}
