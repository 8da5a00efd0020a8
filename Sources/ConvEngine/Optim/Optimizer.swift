/// Updates parameters from their gradients, apart from the layers (Caffe's solver): it walks the list
/// of trainable parameters it was given and keeps its own per-parameter state.
public protocol Optimizer: AnyObject {
    /// The parameters it updates, in order.
    var parameters: [Parameter] { get }
    /// How many steps have been taken (PyTorch's `step`); restored on resume.
    var stepCount: Int { get set }
    /// A short name ("sgd", "adam", "adamw").
    var kind: String { get }
    /// Applies one update at `learningRate` from the accumulated gradients.
    func step(learningRate: Float)
    /// The per-parameter state buffers with their slot names (PyTorch's: `momentum_buffer`,
    /// `exp_avg`, `exp_avg_sq`), for parameter `index`.
    func state(of index: Int) -> [(slot: String, storage: FloatStorage)]
}

/// How weight decay enters an update.
public enum WeightDecay: Equatable, Sendable {
    /// No decay.
    case none
    /// L2 regularisation: `rate · p` is added to the gradient (PyTorch's `weight_decay` in SGD and Adam).
    case l2(Float)
    /// Decoupled decay: `p ← p · (1 − lr · rate)` before the update (AdamW; SGDW for SGD).
    case decoupled(Float)

    /// Shrinks `p` by (1 − lr·rate) for decoupled decay, before the update.
    ///
    /// - Returns: the L2 coefficient to add to the gradient (0 unless `.l2`).
    @inline(__always)
    func applyDecoupled(to p: UnsafeMutablePointer<Float>, count n: Int, learningRate lr: Float) -> Float {
        switch self {
        case .none: return 0
        case .l2(let rate): return rate
        case .decoupled(let rate):
            let keep = 1 - lr * rate
            for i in 0..<n { p[i] *= keep }
            return 0
        }
    }

    /// Validates a decay rate.
    func validated() throws -> WeightDecay {
        switch self {
        case .none: return self
        case .l2(let r), .decoupled(let r):
            try require(r >= 0 && r.isFinite, "weight decay must be a non-negative number, got \(r)")
            return self
        }
    }
}

/// Which parameters weight decay applies to.
public enum DecayScope: String, CaseIterable, Equatable, Sendable {
    /// Every trainable parameter (PyTorch's default for a plain parameter list).
    case all
    /// Weights of convolutions and linear layers only; biases and batch norm's scale and shift are
    /// not decayed (the usual choice of fast CIFAR recipes: shrinking a BN scale only rescales the
    /// next layer's input, which batch norm undoes).
    case weights
    /// Every trainable parameter but the depthwise filters, which the MobileNet paper gives "very
    /// little or no weight decay" since they hold so few parameters.
    case allButDepthwise = "all-but-depthwise"

    /// Whether decay applies to `parameter`.
    public func decays(_ parameter: Parameter) -> Bool {
        switch self {
        case .all: return true
        case .weights: return parameter.isWeight
        case .allButDepthwise: return parameter.layout != .depthwiseHWC
        }
    }
}

extension Optimizer {
    /// Sets every parameter's gradient to zero.
    public func zeroGradients() {
        let all = parameters
        for i in 0..<all.count { all[i].zeroGradient() }
    }
}
