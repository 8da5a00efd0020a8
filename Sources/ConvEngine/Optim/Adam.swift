import Foundation

/// Adam and AdamW, as `torch.optim.Adam` / `torch.optim.AdamW` (amsgrad off):
///
///     g ← ∇ + λ·p                    (Adam's L2 decay)      or   p ← p·(1 − lr·λ)   (AdamW)
///     m ← β₁·m + (1 − β₁)·g
///     v ← β₂·v + (1 − β₂)·g²
///     p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
public final class Adam: Optimizer {
    public var kind: String { if case .decoupled = weightDecay { return "adamw" } else { return "adam" } }
    public let parameters: [Parameter]
    /// β₁, the first-moment decay.
    public let beta1: Float
    /// β₂, the second-moment decay.
    public let beta2: Float
    /// ε, added to the denominator.
    public let epsilon: Float
    /// Weight decay: `.l2` for Adam, `.decoupled` for AdamW.
    public let weightDecay: WeightDecay
    /// The parameters weight decay applies to.
    public let decayScope: DecayScope
    public var stepCount = 0
    private let decays: [Bool]
    private let firstMoments: [FloatStorage], secondMoments: [FloatStorage]

    /// Creates Adam (`.l2` decay) or AdamW (`.decoupled` decay).
    ///
    /// - Throws: `EngineError.invalidArgument` for betas outside [0, 1), a non-positive epsilon or a
    ///   negative decay.
    public init(
        parameters: [Parameter], beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
        weightDecay: WeightDecay = .none, decayScope: DecayScope = .all
    ) throws {
        try require(beta1 >= 0 && beta1 < 1, "Adam beta1 must be in [0, 1), got \(beta1)")
        try require(beta2 >= 0 && beta2 < 1, "Adam beta2 must be in [0, 1), got \(beta2)")
        try require(epsilon > 0, "Adam epsilon must be positive, got \(epsilon)")
        self.parameters = parameters.filter(\.isTrainable)
        (self.beta1, self.beta2, self.epsilon) = (beta1, beta2, epsilon)
        self.weightDecay = try weightDecay.validated()
        self.decayScope = decayScope
        decays = self.parameters.map(decayScope.decays)
        firstMoments = self.parameters.map { FloatStorage(count: $0.count) }
        secondMoments = self.parameters.map { FloatStorage(count: $0.count) }
    }

    /// AdamW: Adam with decoupled weight decay (PyTorch's default rate 0.01).
    public static func adamW(
        parameters: [Parameter], beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
        weightDecay rate: Float = 0.01, decayScope: DecayScope = .all
    ) throws -> Adam {
        try Adam(
            parameters: parameters, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: .decoupled(rate),
            decayScope: decayScope)
    }

    public func step(learningRate lr: Float) {
        stepCount += 1
        let t = Double(stepCount)
        let stepSize = Float(Double(lr) / (1 - pow(Double(beta1), t)))
        let correction2 = Float((1 - pow(Double(beta2), t)).squareRoot())
        let (b1, b2, eps) = (beta1, beta2, epsilon)
        for index in 0..<parameters.count {
            let parameter = parameters[index]
            let p = parameter.value.data, g = parameter.gradient.data, n = parameter.count
            let m = firstMoments[index].data, v = secondMoments[index].data
            let decay = decays[index] ? weightDecay : .none
            let l2 = decay.applyDecoupled(to: p, count: n, learningRate: lr)
            for i in 0..<n {
                let d = g[i] + l2 * p[i]
                m[i] += (d - m[i]) * (1 - b1)
                v[i] = b2 * v[i] + (1 - b2) * d * d
                p[i] -= stepSize * m[i] / (v[i].squareRoot() / correction2 + eps)
            }
        }
    }

    public func state(of index: Int) -> [(slot: String, storage: FloatStorage)] {
        [("exp_avg", firstMoments[index]), ("exp_avg_sq", secondMoments[index])]
    }
}
