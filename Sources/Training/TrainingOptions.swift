import CIFAR
import ConvEngine
import ConvModels
import Foundation

/// Everything that defines a training run besides the data. Saved in every checkpoint, so a resumed
/// run continues with the options it was started with.
public struct TrainingOptions: Equatable, Sendable {
    /// The optimizer.
    public enum OptimizerKind: String, CaseIterable, Sendable { case sgd, adam, adamw }
    /// The learning-rate shape after warm-up.
    public enum ScheduleKind: String, CaseIterable, Sendable { case constant, step, cosine }
    /// How pixels are scaled.
    public enum NormalizationKind: String, CaseIterable, Sendable { case meanstd, seed }
    /// How long to train.
    public enum Length: Equatable, Sendable {
        case epochs(Int)
        case steps(Int)
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

    /// Creates options with the usual CIFAR recipe's defaults.
    public init(model: ModelConfiguration, length: Length = .epochs(10), batchSize: Int = 128,
                optimizer: OptimizerKind = .sgd, learningRate: Float = 0.1, momentum: Float = 0.9,
                nesterov: Bool = false, weightDecay: Float = 5e-4, schedule: ScheduleKind = .cosine,
                warmupSteps: Int = 0, labelSmoothing: Float = 0, augment: Bool = true,
                normalization: NormalizationKind = .meanstd, seed: UInt64 = 0, evaluateEvery: Int? = nil) {
        self.model = model
        self.length = length
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        self.schedule = schedule
        self.warmupSteps = warmupSteps
        self.labelSmoothing = labelSmoothing
        self.augment = augment
        self.normalization = normalization
        self.seed = seed
        self.evaluateEvery = evaluateEvery
    }

    /// Throws `EngineError.invalidArgument` naming the first option out of range.
    public func validate() throws {
        switch length {
        case .epochs(let n): try require(n > 0, "--epochs must be positive, got \(n)")
        case .steps(let n): try require(n > 0, "--steps must be positive, got \(n)")
        }
        try require(batchSize > 0, "--batch-size must be positive, got \(batchSize)")
        try require(learningRate > 0 && learningRate.isFinite, "--lr must be a positive number, got \(learningRate)")
        try require(momentum >= 0 && momentum < 1, "--momentum must be in [0, 1), got \(momentum)")
        try require(weightDecay >= 0 && weightDecay.isFinite, "--weight-decay must not be negative, got \(weightDecay)")
        try require(warmupSteps >= 0, "--warmup must not be negative, got \(warmupSteps)")
        try require(labelSmoothing >= 0 && labelSmoothing < 1, "--label-smoothing must be in [0, 1), got \(labelSmoothing)")
        if let e = evaluateEvery { try require(e > 0, "--eval-every must be positive, got \(e)") }
        try require(!nesterov || (optimizer == .sgd && momentum > 0), "--nesterov needs --optimizer sgd and a momentum above 0")
    }

    /// The pixel normalisation for a data set.
    public func pixelNormalization(for variant: CIFARVariant) -> Normalization {
        switch normalization {
        case .seed: return .seed
        case .meanstd: return variant == .cifar100 ? .cifar100 : .cifar10
        }
    }

    /// Builds the optimizer over `parameters`.
    public func makeOptimizer(_ parameters: [Parameter]) throws -> Optimizer {
        switch optimizer {
        case .sgd: return try SGD(parameters: parameters, momentum: momentum, nesterov: nesterov,
                                  weightDecay: weightDecay > 0 ? .l2(weightDecay) : .none)
        case .adam: return try Adam(parameters: parameters, weightDecay: weightDecay > 0 ? .l2(weightDecay) : .none)
        case .adamw: return try Adam.adamW(parameters: parameters, weightDecay: weightDecay)
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
        }
        return try LearningRateSchedule(base: learningRate, shape: shape, warmupSteps: min(warmupSteps, totalSteps - 1),
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
        return m
    }

    /// Reads options back from checkpoint metadata.
    ///
    /// - Throws: `EngineError.corruptData` naming a missing or malformed key.
    public init(metadata m: [String: String]) throws {
        func get<T>(_ key: String, _ parse: (String) -> T?) throws -> T {
            guard let text = m[key], let value = parse(text) else {
                throw EngineError.corruptData("checkpoint metadata lacks a valid \(key)")
            }
            return value
        }
        let length: Length = m["run.steps"] != nil ? .steps(try get("run.steps") { Int($0) }) : .epochs(try get("run.epochs") { Int($0) })
        self.init(model: try ModelConfiguration(metadata: m), length: length,
                  batchSize: try get("run.batch_size") { Int($0) },
                  optimizer: try get("run.optimizer") { OptimizerKind(rawValue: $0) },
                  learningRate: try get("run.lr") { Float($0) }, momentum: try get("run.momentum") { Float($0) },
                  nesterov: try get("run.nesterov") { Bool($0) }, weightDecay: try get("run.weight_decay") { Float($0) },
                  schedule: try get("run.schedule") { ScheduleKind(rawValue: $0) }, warmupSteps: try get("run.warmup") { Int($0) },
                  labelSmoothing: try get("run.label_smoothing") { Float($0) }, augment: try get("run.augment") { Bool($0) },
                  normalization: try get("run.normalize") { NormalizationKind(rawValue: $0) },
                  seed: try get("run.seed") { UInt64($0) }, evaluateEvery: m["run.eval_every"].flatMap { Int($0) })
    }
}
