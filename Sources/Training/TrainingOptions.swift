import CIFAR
import ConvEngine
import ConvModels
import Foundation

/// Everything that defines a training run besides the data. Saved in every checkpoint, so a resumed
/// run continues with the options it was started with.
public struct TrainingOptions: Equatable, Sendable {
    /// The optimizer.
    public enum OptimizerKind: String, CaseIterable, Sendable {
        case sgd, adam, adamw

        /// The learning rate used when none is given: 0.1 for SGD, 10⁻³ for Adam and AdamW.
        public var defaultLearningRate: Float { self == .sgd ? 0.1 : 1e-3 }
        /// The weight decay used when none is given: 5·10⁻⁴ (L2) for SGD, 0 for Adam, 0.01 (decoupled) for AdamW.
        public var defaultWeightDecay: Float {
            switch self {
            case .sgd: return 5e-4
            case .adam: return 0
            case .adamw: return 0.01
            }
        }
    }
    /// The learning-rate shape after warm-up.
    public enum ScheduleKind: String, CaseIterable, Sendable {
        case constant, step, cosine
        /// Linear warm-up to the peak, then linear decay to zero (the one-cycle shape; momentum stays fixed).
        case onecycle
    }
    /// How pixels are scaled.
    public enum NormalizationKind: String, CaseIterable, Sendable { case meanstd, seed }
    /// How long to train.
    public enum Length: Equatable, Sendable, CustomStringConvertible {
        case epochs(Int)
        case steps(Int)

        public var description: String {
            switch self {
            case .epochs(let n): return "\(n) epochs"
            case .steps(let n): return "\(n) steps"
            }
        }
    }

    /// An option by name, for errors and conflicts; a front end maps it to its own spelling (the
    /// command line: its flags).
    public enum Option: String, CaseIterable, Sendable {
        case model
        case widthMultiplier = "width multiplier"
        case resolution, stem, standard, epochs, steps
        case outputStride = "output stride"
        case batchSize = "batch size"
        case optimizer
        case learningRate = "learning rate"
        case momentum, nesterov
        case weightDecay = "weight decay"
        case schedule
        case warmupSteps = "warm-up steps"
        case labelSmoothing = "label smoothing"
        case augment = "augmentation"
        case normalization, seed
        case evaluateEvery = "evaluation interval"
        case weightDecayScope = "weight decay scope"
        case emaDecay = "EMA decay"
        case cutout, recipe
        case evaluateFlipped = "flip test-time augmentation"

        /// The checkpoint metadata key the option is saved under.
        public var metadataKey: String {
            switch self {
            case .model: return "model.family"
            case .widthMultiplier: return "model.width_multiplier"
            case .resolution: return "model.resolution"
            case .stem: return "model.stem"
            case .outputStride: return "model.output_stride"
            case .standard: return "model.standard"
            case .epochs: return "run.epochs"
            case .steps: return "run.steps"
            case .batchSize: return "run.batch_size"
            case .optimizer: return "run.optimizer"
            case .learningRate: return "run.lr"
            case .momentum: return "run.momentum"
            case .nesterov: return "run.nesterov"
            case .weightDecay: return "run.weight_decay"
            case .schedule: return "run.schedule"
            case .warmupSteps: return "run.warmup"
            case .labelSmoothing: return "run.label_smoothing"
            case .augment: return "run.augment"
            case .normalization: return "run.normalize"
            case .seed: return "run.seed"
            case .evaluateEvery: return "run.eval_every"
            case .weightDecayScope: return "run.weight_decay_on"
            case .emaDecay: return "run.ema"
            case .cutout: return "run.cutout"
            case .recipe: return "run.recipe"
            case .evaluateFlipped: return "run.eval_flip"
            }
        }
    }

    /// An option out of its range, or one that conflicts with the run being resumed.
    public struct OptionError: Error, Equatable, CustomStringConvertible {
        /// The option at fault.
        public var option: Option
        /// What is wrong, as the end of a sentence that starts with the option's name ("must be
        /// positive, got 0").
        public var problem: String

        /// Names `option` and its problem.
        public init(_ option: Option, _ problem: String) {
            self.option = option
            self.problem = problem
        }

        public var description: String { "\(option.rawValue) \(problem)" }
    }

    /// The model (its class count follows the data).
    public var model: ModelConfiguration
    /// How long to train.
    public var length: Length
    /// Images per step.
    public var batchSize: Int
    /// The optimizer.
    public var optimizer: OptimizerKind
    /// The peak learning rate.
    public var learningRate: Float
    /// SGD momentum.
    public var momentum: Float
    /// SGD Nesterov momentum.
    public var nesterov: Bool
    /// Weight decay: L2 for SGD and Adam, decoupled for AdamW.
    public var weightDecay: Float
    /// The schedule's shape.
    public var schedule: ScheduleKind
    /// Linear warm-up steps.
    public var warmupSteps: Int
    /// Label smoothing ε.
    public var labelSmoothing: Float
    /// Random crop (padding 4) and horizontal flip.
    public var augment: Bool
    /// Pixel scaling.
    public var normalization: NormalizationKind
    /// The seed of initialisation, data order and augmentation.
    public var seed: UInt64
    /// Evaluate on the test set every this many steps; nil: at the end of every epoch.
    public var evaluateEvery: Int?
    /// The parameters weight decay applies to.
    public var weightDecayScope: DecayScope = .all
    /// The decay of an exponential moving average of the weights, which evaluations and the weights
    /// a checkpoint gives to `eval` then use; nil: none.
    public var emaDecay: Float?
    /// The side of the square Cutout blanks in each training image (to the data's mean); 0: none.
    public var cutout = 0
    /// The recipe whose defaults the run took (`Recipe`), recorded for the reader of a checkpoint.
    public var recipe: Recipe?
    /// Whether the run's evaluations average each test image's logits with its mirror's (as
    /// `mobilenet eval --flip-tta`).
    public var evaluateFlipped = false

    /// Creates options with the usual CIFAR recipe's defaults; the learning rate and weight decay
    /// default to the optimizer's (`OptimizerKind.defaultLearningRate`, `defaultWeightDecay`).
    public init(
        model: ModelConfiguration, length: Length = .epochs(10), batchSize: Int = 128,
        optimizer: OptimizerKind = .sgd, learningRate: Float? = nil, momentum: Float = 0.9,
        nesterov: Bool = false, weightDecay: Float? = nil, schedule: ScheduleKind = .cosine,
        warmupSteps: Int = 0, labelSmoothing: Float = 0, augment: Bool = true,
        normalization: NormalizationKind = .meanstd, seed: UInt64 = 0, evaluateEvery: Int? = nil
    ) {
        self.model = model
        self.length = length
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.learningRate = learningRate ?? optimizer.defaultLearningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay ?? optimizer.defaultWeightDecay
        self.schedule = schedule
        self.warmupSteps = warmupSteps
        self.labelSmoothing = labelSmoothing
        self.augment = augment
        self.normalization = normalization
        self.seed = seed
        self.evaluateEvery = evaluateEvery
    }

    /// Throws an `OptionError` naming the first option out of range.
    public func validate() throws {
        func check(_ condition: Bool, _ option: Option, _ problem: @autoclosure () -> String) throws {
            if !condition { throw OptionError(option, problem()) }
        }
        switch length {
        case .epochs(let n): try check(n > 0, .epochs, "must be positive, got \(n)")
        case .steps(let n): try check(n > 0, .steps, "must be positive, got \(n)")
        }
        try check(batchSize > 0, .batchSize, "must be positive, got \(batchSize)")
        try check(learningRate > 0 && learningRate.isFinite, .learningRate, "must be a positive number, got \(learningRate)")
        try check(momentum >= 0 && momentum < 1, .momentum, "must be in [0, 1), got \(momentum)")
        try check(weightDecay >= 0 && weightDecay.isFinite, .weightDecay, "must not be negative, got \(weightDecay)")
        try check(warmupSteps >= 0, .warmupSteps, "must not be negative, got \(warmupSteps)")
        try check(labelSmoothing >= 0 && labelSmoothing < 1, .labelSmoothing, "must be in [0, 1), got \(labelSmoothing)")
        if let e = evaluateEvery { try check(e > 0, .evaluateEvery, "must be positive, got \(e)") }
        if let d = emaDecay { try check(d > 0 && d < 1, .emaDecay, "must be in (0, 1), got \(d)") }
        try check(
            cutout >= 0 && cutout <= model.resolution, .cutout,
            "must be in 0...\(model.resolution) (the image side), got \(cutout)")
        try check(!nesterov || (optimizer == .sgd && momentum > 0), .nesterov, "needs the sgd optimizer and a momentum above 0")
    }

    /// Steps in the run for epochs of `stepsPerEpoch` steps.
    ///
    /// - Throws: an `OptionError` when the count does not fit in an `Int`.
    public func totalSteps(stepsPerEpoch: Int) throws -> Int {
        switch length {
        case .steps(let n): return n
        case .epochs(let n):
            return try Checked.product(
                n, stepsPerEpoch, orThrow: OptionError(.epochs, "\(n) makes more steps than can be counted"))
        }
    }

    /// The pixel normalisation for a kind of data: the seed's scaling, or that data's mean and
    /// standard deviation (CIFAR-10's, CIFAR-100's, or ImageNet's for image folders).
    public func pixelNormalization(for kind: ImageDataset.Kind) -> Normalization {
        switch normalization {
        case .seed: return .seed
        case .meanstd: return kind.meanStd
        }
    }

    /// Builds the optimizer over `parameters`.
    public func makeOptimizer(_ parameters: [Parameter]) throws -> Optimizer {
        switch optimizer {
        case .sgd:
            return try SGD(
                parameters: parameters, momentum: momentum, nesterov: nesterov,
                weightDecay: weightDecay > 0 ? .l2(weightDecay) : .none, decayScope: weightDecayScope)
        case .adam:
            return try Adam(
                parameters: parameters, weightDecay: weightDecay > 0 ? .l2(weightDecay) : .none, decayScope: weightDecayScope)
        case .adamw: return try Adam.adamW(parameters: parameters, weightDecay: weightDecay, decayScope: weightDecayScope)
        }
    }

    /// The schedule over `totalSteps`.
    public func makeSchedule(totalSteps: Int, stepsPerEpoch: Int) throws -> LearningRateSchedule {
        let shape: LearningRateSchedule.Shape
        switch schedule {
        case .constant: shape = .constant
        // Divide by 10 at 50% and 75% of the steps after warm-up (the usual CIFAR recipe).
        case .step:
            let length = max(1, totalSteps - warmupSteps)
            shape = .milestones([max(1, length / 2), max(1, length * 3 / 4)], factor: 0.1)
        case .cosine: shape = .cosine(minimum: 0)
        case .onecycle: shape = .linear(minimum: 0)
        }
        return try LearningRateSchedule(
            base: learningRate, shape: shape, warmupSteps: min(warmupSteps, totalSteps - 1),
            totalSteps: totalSteps)
    }

    /// The options as checkpoint metadata (`run.*`), beside the model's (`model.*`).
    public var metadata: [String: String] {
        var m = model.metadata
        switch length {
        case .epochs(let n): m["run.epochs"] = "\(n)"
        case .steps(let n): m["run.steps"] = "\(n)"
        }
        m["run.batch_size"] = "\(batchSize)"
        m["run.optimizer"] = optimizer.rawValue
        m["run.lr"] = "\(learningRate)"
        m["run.momentum"] = "\(momentum)"
        m["run.nesterov"] = "\(nesterov)"
        m["run.weight_decay"] = "\(weightDecay)"
        m["run.schedule"] = schedule.rawValue
        m["run.warmup"] = "\(warmupSteps)"
        m["run.label_smoothing"] = "\(labelSmoothing)"
        m["run.augment"] = "\(augment)"
        m["run.normalize"] = normalization.rawValue
        m["run.seed"] = "\(seed)"
        if let e = evaluateEvery { m["run.eval_every"] = "\(e)" }
        m["run.weight_decay_on"] = weightDecayScope.rawValue
        if let d = emaDecay { m["run.ema"] = "\(d)" }
        m["run.cutout"] = "\(cutout)"
        if let recipe { m["run.recipe"] = recipe.rawValue }
        m["run.eval_flip"] = "\(evaluateFlipped)"
        return m
    }

    /// The `run.*` keys the options are saved under.
    static let metadataKeys: Set<String> = [
        "run.epochs", "run.steps", "run.batch_size", "run.optimizer", "run.lr", "run.momentum", "run.nesterov",
        "run.weight_decay", "run.schedule", "run.warmup", "run.label_smoothing", "run.augment", "run.normalize",
        "run.seed", "run.eval_every", "run.weight_decay_on", "run.ema", "run.cutout", "run.recipe",
        "run.eval_flip",
    ]

    /// Reads options back from checkpoint metadata, checking every value.
    ///
    /// - Throws: `EngineError.corruptData` naming a missing, malformed or out-of-range key.
    public init(metadata m: [String: String]) throws {
        func get<T>(_ key: String, _ parse: (String) -> T?) throws -> T {
            guard let text = m[key] else { throw EngineError.corruptData("checkpoint metadata lacks \(key)") }
            guard let value = parse(text) else {
                throw EngineError.corruptData("checkpoint metadata \(key) = \"\(text)\" is malformed")
            }
            return value
        }
        let length: Length =
            m["run.steps"] != nil ? .steps(try get("run.steps") { Int($0) }) : .epochs(try get("run.epochs") { Int($0) })
        self.init(
            model: try ModelConfiguration(metadata: m), length: length,
            batchSize: try get("run.batch_size") { Int($0) },
            optimizer: try get("run.optimizer") { OptimizerKind(rawValue: $0) },
            learningRate: try get("run.lr") { Float($0) }, momentum: try get("run.momentum") { Float($0) },
            nesterov: try get("run.nesterov") { Bool($0) }, weightDecay: try get("run.weight_decay") { Float($0) },
            schedule: try get("run.schedule") { ScheduleKind(rawValue: $0) }, warmupSteps: try get("run.warmup") { Int($0) },
            labelSmoothing: try get("run.label_smoothing") { Float($0) }, augment: try get("run.augment") { Bool($0) },
            normalization: try get("run.normalize") { NormalizationKind(rawValue: $0) },
            seed: try get("run.seed") { UInt64($0) },
            evaluateEvery: m["run.eval_every"] == nil ? nil : try get("run.eval_every") { Int($0) })
        // Keys that checkpoints of earlier versions lack, read as those versions' behaviour.
        if m["run.weight_decay_on"] != nil { weightDecayScope = try get("run.weight_decay_on") { DecayScope(rawValue: $0) } }
        if m["run.ema"] != nil { emaDecay = try get("run.ema") { Float($0) } }
        if m["run.cutout"] != nil { cutout = try get("run.cutout") { Int($0) } }
        if m["run.recipe"] != nil { recipe = try get("run.recipe") { Recipe(rawValue: $0) } }
        if m["run.eval_flip"] != nil { evaluateFlipped = try get("run.eval_flip") { Bool($0) } }
        do { try validate() } catch let error as OptionError {
            throw EngineError.corruptData(
                "checkpoint metadata \(error.option.metadataKey) = \"\(m[error.option.metadataKey] ?? "")\": \(error)")
        }
    }
}

extension TrainingOptions {
    /// The options a user gave, each nil when not given: for a new run a missing choice takes its
    /// default; a resumed run keeps what it recorded, and a given choice that differs is an error.
    public struct Choices: Equatable, Sendable {
        public var family: ModelFamily?
        public var widthMultiplier: Float?
        public var resolution: Int?
        public var stem: Stem?
        public var outputStride: Int?
        public var standard: Bool?
        public var length: Length?
        public var batchSize: Int?
        public var optimizer: OptimizerKind?
        public var learningRate: Float?
        public var momentum: Float?
        public var nesterov: Bool?
        public var weightDecay: Float?
        public var schedule: ScheduleKind?
        public var warmupSteps: Int?
        public var labelSmoothing: Float?
        public var augment: Bool?
        public var normalization: NormalizationKind?
        public var seed: UInt64?
        public var evaluateEvery: Int?
        public var weightDecayScope: DecayScope?
        public var emaDecay: Float?
        public var cutout: Int?
        public var recipe: Recipe?
        public var evaluateFlipped: Bool?

        /// No choices: every option at its default (or as recorded).
        public init() {}

        /// Makes `model` the default model: its family, width, resolution, stem, output stride and kind fill the
        /// model choices not made (a run starting from a checkpoint's weights trains its model).
        /// A choice of another family keeps that family's defaults.
        public mutating func defaultModel(to model: ModelConfiguration) {
            if let family, family != model.family { return }
            family = family ?? model.family
            widthMultiplier = widthMultiplier ?? model.widthMultiplier
            resolution = resolution ?? model.resolution
            stem = stem ?? model.stem
            if stem == model.stem { outputStride = outputStride ?? model.outputStride }
            standard = standard ?? model.standard
        }

        /// The options of a new run over `classCount` classes: each choice, or its default.
        ///
        /// - Throws: `EngineError` for a model that cannot be built, `OptionError` for an option out
        ///   of range.
        public func options(classCount: Int) throws -> TrainingOptions {
            var c = self
            recipe?.fillDefaults(of: &c)
            return try c.optionsWithoutRecipe(classCount: classCount)
        }

        private func optionsWithoutRecipe(classCount: Int) throws -> TrainingOptions {
            let model = try ModelConfiguration(
                family: family ?? .seed, widthMultiplier: widthMultiplier ?? 1, resolution: resolution,
                classCount: classCount, stem: stem ?? .cifar, standard: standard ?? false, outputStride: outputStride)
            let optimizer = optimizer ?? .sgd
            var options = TrainingOptions(
                model: model, length: length ?? .epochs(10), batchSize: batchSize ?? 128, optimizer: optimizer,
                learningRate: learningRate, momentum: momentum ?? 0.9, nesterov: nesterov ?? false, weightDecay: weightDecay,
                schedule: schedule ?? .cosine, warmupSteps: warmupSteps ?? 0, labelSmoothing: labelSmoothing ?? 0,
                augment: augment ?? true, normalization: normalization ?? .meanstd, seed: seed ?? 0, evaluateEvery: evaluateEvery)
            options.weightDecayScope = weightDecayScope ?? .all
            // An EMA decay of 0 is no average (so a recipe's average can be switched off).
            options.emaDecay = emaDecay == 0 ? nil : emaDecay
            options.cutout = cutout ?? 0
            options.recipe = recipe
            options.evaluateFlipped = evaluateFlipped ?? false
            try options.validate()
            return options
        }

        /// The recorded run's options with these choices applied.
        ///
        /// A resumed run continues as recorded: a choice equal to the recorded value changes
        /// nothing; one that differs is an `OptionError` naming both values, except the length and
        /// the evaluation interval, which a resumed run may change (a new length moves the end of
        /// a step or cosine schedule, and `changes` says so).
        public func resuming(_ recorded: TrainingOptions) throws -> (options: TrainingOptions, changes: [String]) {
            func same<T: Equatable & CustomStringConvertible>(_ option: Option, _ given: T?, _ old: T) throws {
                guard let given, given != old else { return }
                throw OptionError(
                    option,
                    "was \(old) in the run being resumed, but \(given) was given (omit it to continue the run as recorded)")
            }
            let m = recorded.model
            try same(.model, family?.rawValue, m.family.rawValue)
            try same(.widthMultiplier, widthMultiplier, m.widthMultiplier)
            try same(.resolution, resolution, m.resolution)
            try same(.stem, stem?.rawValue, m.stem.rawValue)
            try same(.outputStride, outputStride.map { "\($0)" }, m.outputStride.map { "\($0)" } ?? "none")
            try same(.standard, standard, m.standard)
            try same(.batchSize, batchSize, recorded.batchSize)
            try same(.optimizer, optimizer?.rawValue, recorded.optimizer.rawValue)
            try same(.learningRate, learningRate, recorded.learningRate)
            try same(.momentum, momentum, recorded.momentum)
            try same(.nesterov, nesterov, recorded.nesterov)
            try same(.weightDecay, weightDecay, recorded.weightDecay)
            try same(.schedule, schedule?.rawValue, recorded.schedule.rawValue)
            try same(.warmupSteps, warmupSteps, recorded.warmupSteps)
            try same(.labelSmoothing, labelSmoothing, recorded.labelSmoothing)
            try same(.augment, augment, recorded.augment)
            try same(.normalization, normalization?.rawValue, recorded.normalization.rawValue)
            try same(.seed, seed, recorded.seed)
            try same(.weightDecayScope, weightDecayScope?.rawValue, recorded.weightDecayScope.rawValue)
            try same(.emaDecay, emaDecay.map { $0 == 0 ? "none" : "\($0)" }, recorded.emaDecay.map { "\($0)" } ?? "none")
            try same(.cutout, cutout, recorded.cutout)
            try same(.recipe, recipe?.rawValue, recorded.recipe?.rawValue ?? "none")
            try same(.evaluateFlipped, evaluateFlipped, recorded.evaluateFlipped)
            var options = recorded, changes: [String] = []
            if let length, length != recorded.length {
                options.length = length
                changes.append(
                    "the run's length changes from \(recorded.length) to \(length)"
                        + (recorded.schedule == .constant
                            ? "" : "; its \(recorded.schedule.rawValue) schedule is stretched to the new end"))
            }
            if let evaluateEvery, evaluateEvery != recorded.evaluateEvery {
                options.evaluateEvery = evaluateEvery
                changes.append("evaluation now every \(evaluateEvery) steps")
            }
            try options.validate()
            return (options, changes)
        }
    }
}
