/// An exponential moving average of a network's parameters and buffers, used for evaluation (timm's
/// `ModelEmaV2`, with the warm-up of TensorFlow's `ExponentialMovingAverage(num_updates:)`). After
/// every optimizer step, for every parameter and buffer p (batch norm's running statistics too):
///
///     d ← min(decay, (1 + t) / (10 + t))      t: updates so far
///     a ← a − (1 − d)·(a − p)
///
/// The averages start as copies of the values. Evaluation swaps them in and back out
/// (`withAveragesSwappedIn`), which exchanges memory and so restores the live values bit for bit.
/// Checkpoints hold them as `ema.<name>` beside the live tensors.
public final class ExponentialMovingAverage {
    /// The name prefix of the averages in a checkpoint.
    public static let checkpointPrefix = "ema."

    /// The decay at full strength.
    public let decay: Float
    /// The averaged tensors, in the network's order.
    public let parameters: [Parameter]
    /// Updates so far (restored on resume: the warm-up depends on it).
    public var updateCount = 0
    private let averages: [FloatStorage]
    private let index: [ObjectIdentifier: Int]

    /// Starts the averages at the current values of `parameters`.
    ///
    /// - Throws: `EngineError.invalidArgument` for a decay outside (0, 1) or a parameter listed twice.
    public init(parameters: [Parameter], decay: Float) throws {
        try require(decay > 0 && decay < 1, "the EMA decay must be in (0, 1), got \(decay)")
        self.decay = decay
        self.parameters = parameters
        averages = parameters.map { p in
            let a = FloatStorage(count: p.count)
            a.data.update(from: p.value.data, count: p.count)
            return a
        }
        index = Dictionary(
            parameters.enumerated().map { (ObjectIdentifier($0.element), $0.offset) }, uniquingKeysWith: { first, _ in first })
        // A parameter listed twice would be swapped in and straight back out.
        try require(index.count == parameters.count, "the EMA lists a parameter more than once")
    }

    /// Starts the averages again at the current values (after loading initial weights).
    public func restart() {
        for i in 0..<parameters.count { averages[i].data.update(from: parameters[i].value.data, count: parameters[i].count) }
        updateCount = 0
    }

    /// The average of `parameter`, nil when it is not averaged.
    public func average(of parameter: Parameter) -> FloatStorage? {
        index[ObjectIdentifier(parameter)].map { averages[$0] }
    }

    /// The decay of the next update: `decay`, or less during the first updates.
    public var currentDecay: Float { min(decay, Float(1 + updateCount) / Float(10 + updateCount)) }

    /// Moves every average towards its parameter's current value.
    public func update() {
        let keep = currentDecay, take = 1 - keep
        for i in 0..<parameters.count {
            let a = averages[i].data, p = parameters[i].value.data
            for j in 0..<parameters[i].count { a[j] -= take * (a[j] - p[j]) }
        }
        updateCount += 1
    }

    /// Runs `body` with the averages in the parameters' place, then puts the live values back.
    public func withAveragesSwappedIn<R>(_ body: () throws -> R) rethrows -> R {
        swap()
        defer { swap() }
        return try body()
    }

    private func swap() {
        for i in 0..<parameters.count {
            let a = averages[i].data, p = parameters[i].value.data
            for j in 0..<parameters[i].count { (a[j], p[j]) = (p[j], a[j]) }
        }
    }
}
