/// Stochastic gradient descent with momentum and Nesterov momentum, as `torch.optim.SGD` (dampening 0):
///
///     g ← ∇ + λ·p                       (L2 decay)
///     b ← μ·b + g                       (b starts at 0, so the first step sets b = g)
///     g ← g + μ·b  (Nesterov)  or  g ← b
///     p ← p − lr·g
///
/// With decoupled decay, p ← p·(1 − lr·λ) comes first instead of the L2 term. Decay applies to the
/// parameters of `decayScope` (PyTorch: a parameter group with `weight_decay` 0 for the others).
public final class SGD: Optimizer {
    public let kind = "sgd"
    public let parameters: [Parameter]
    /// Momentum μ.
    public let momentum: Float
    /// Whether to use Nesterov momentum.
    public let nesterov: Bool
    /// Weight decay.
    public let weightDecay: WeightDecay
    /// The parameters weight decay applies to.
    public let decayScope: DecayScope
    public var stepCount = 0
    private let buffers: [FloatStorage]
    private let decays: [Bool]

    /// Creates the optimizer.
    ///
    /// - Throws: `EngineError.invalidArgument` for momentum outside [0, 1), Nesterov without momentum,
    ///   or a negative decay.
    public init(
        parameters: [Parameter], momentum: Float = 0, nesterov: Bool = false, weightDecay: WeightDecay = .none,
        decayScope: DecayScope = .all
    ) throws {
        try require(momentum >= 0 && momentum < 1, "SGD momentum must be in [0, 1), got \(momentum)")
        try require(!nesterov || momentum > 0, "Nesterov momentum needs a momentum above 0")
        self.parameters = parameters.filter(\.isTrainable)
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = try weightDecay.validated()
        self.decayScope = decayScope
        decays = self.parameters.map(decayScope.decays)
        buffers = momentum > 0 ? self.parameters.map { FloatStorage(count: $0.count) } : []
    }

    public func step(learningRate lr: Float) {
        let mu = momentum
        for index in 0..<parameters.count {
            let parameter = parameters[index]
            let p = parameter.value.data, g = parameter.gradient.data, n = parameter.count
            let decay = decays[index] ? weightDecay : .none
            let l2 = decay.applyDecoupled(to: p, count: n, learningRate: lr)
            if mu == 0 {
                for i in 0..<n { p[i] -= lr * (g[i] + l2 * p[i]) }
                continue
            }
            let b = buffers[index].data
            if nesterov {
                for i in 0..<n {
                    let d = g[i] + l2 * p[i]
                    b[i] = mu * b[i] + d
                    p[i] -= lr * (d + mu * b[i])
                }
            } else {
                for i in 0..<n {
                    b[i] = mu * b[i] + (g[i] + l2 * p[i])
                    p[i] -= lr * b[i]
                }
            }
        }
        stepCount += 1
    }

    public func state(of index: Int) -> [(slot: String, storage: FloatStorage)] {
        buffers.isEmpty ? [] : [("momentum_buffer", buffers[index])]
    }
}
