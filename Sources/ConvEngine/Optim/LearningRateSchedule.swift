import Foundation

/// The learning rate as a function of the step: an optional linear warm-up, then a constant, step,
/// cosine or linear shape (PyTorch's `StepLR`, `CosineAnnealingLR` and `LinearLR` applied per step;
/// warm-up then linear decay is the one-cycle shape of the fast CIFAR recipes).
public struct LearningRateSchedule: Equatable, Sendable {
    /// The shape after warm-up.
    public enum Shape: Equatable, Sendable {
        /// The base rate throughout.
        case constant
        /// The base rate times `factor` every `every` steps (PyTorch's `StepLR`).
        case step(every: Int, factor: Float)
        /// The base rate times `factor` at each milestone step after warm-up (PyTorch's `MultiStepLR`).
        case milestones([Int], factor: Float)
        /// Half a cosine from the base rate down to `minimum` over the steps after warm-up.
        case cosine(minimum: Float)
        /// A straight line from the base rate down to `minimum` over the steps after warm-up.
        case linear(minimum: Float)
    }

    /// The peak rate.
    public var base: Float
    /// The shape after warm-up.
    public var shape: Shape
    /// Steps of linear warm-up from base/warmupSteps to base.
    public var warmupSteps: Int
    /// The total number of steps (the cosine's length is totalSteps − warmupSteps).
    public var totalSteps: Int

    /// Creates a schedule.
    ///
    /// - Throws: `EngineError.invalidArgument` for a non-positive or non-finite base rate, a negative
    ///   warm-up, a non-positive total, a step interval below 1 or a factor outside (0, 1].
    public init(base: Float, shape: Shape = .constant, warmupSteps: Int = 0, totalSteps: Int) throws {
        try require(base > 0 && base.isFinite, "learning rate must be a positive number, got \(base)")
        try require(warmupSteps >= 0, "warm-up steps must not be negative, got \(warmupSteps)")
        try require(totalSteps > 0, "total steps must be positive, got \(totalSteps)")
        if case .step(let every, let factor) = shape {
            try require(every >= 1, "step schedule interval must be at least 1, got \(every)")
            try require(factor > 0 && factor <= 1, "step schedule factor must be in (0, 1], got \(factor)")
        }
        if case .milestones(let steps, let factor) = shape {
            try require(steps.allSatisfy { $0 > 0 }, "schedule milestones must be positive, got \(steps)")
            try require(factor > 0 && factor <= 1, "milestone factor must be in (0, 1], got \(factor)")
        }
        if case .cosine(let minimum) = shape {
            try require(minimum >= 0 && minimum <= base, "cosine minimum must be in [0, base], got \(minimum)")
        }
        if case .linear(let minimum) = shape {
            try require(minimum >= 0 && minimum <= base, "linear minimum must be in [0, base], got \(minimum)")
        }
        self.base = base
        self.shape = shape
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// The rate for 0-based step `step`.
    public func rate(at step: Int) -> Float {
        let step = max(0, step)
        if step < warmupSteps { return base * Float(step + 1) / Float(warmupSteps) }
        let t = step - warmupSteps
        switch shape {
        case .constant:
            return base
        case .step(let every, let factor):
            return base * pow(factor, Float(t / every))
        case .milestones(let steps, let factor):
            return base * pow(factor, Float(steps.filter { t >= $0 }.count))
        case .cosine(let minimum):
            return minimum + (base - minimum) * Float((1 + cos(Double.pi * progress(t))) / 2)
        case .linear(let minimum):
            return minimum + (base - minimum) * Float(1 - progress(t))
        }
    }

    /// How far `t` steps after warm-up are through the rest of the run, in [0, 1].
    private func progress(_ t: Int) -> Double {
        let length = max(1, totalSteps - warmupSteps)
        return Double(min(t, length)) / Double(length)
    }
}
