/// Batch normalisation per channel, with PyTorch's conventions: batch statistics and running-average
/// updates in training (momentum 0.1, unbiased running variance), running statistics in evaluation.
public final class BatchNorm: Layer {
    public let kind = "bn"
    /// Channels (the innermost axis of the input).
    public let channels: Int
    /// Weight of the newest batch in the running averages.
    public let momentum: Float
    /// Added to the variance before the square root.
    public let epsilon: Float
    /// γ, initialised to 1.
    public let weight: Parameter
    /// β, initialised to 0.
    public let bias: Parameter
    /// The running mean (a buffer, not trained).
    public let runningMean: Parameter
    /// The running variance (a buffer, not trained), initialised to 1.
    public let runningVariance: Parameter
    /// How many training batches have updated the running statistics (PyTorch's `num_batches_tracked`).
    public var batchesTracked: Int = 0
    /// Makes training statistics span every process of a data-parallel run (synchronized batch
    /// norm): nil for this process's batch alone, the default.
    public var synchronizer: BatchNormSynchronizer?
    /// The rectifier that follows this layer in place and that it applies itself, if any (see
    /// `absorb(_:)`; the ReLU layer then does nothing).
    public var fusedRectifier: ReLU? { epilogue.rectifier }

    public private(set) var inputShape: Shape?
    public private(set) var outputShape: Shape?
    private let mean: FloatStorage, variance: FloatStorage, invstd: FloatStorage
    private let scale: FloatStorage, shift: FloatStorage, coefficients: FloatStorage
    private let sums: ChannelSums
    /// Holds the absorbed rectifier; β is applied by the batch-norm kernels themselves.
    private let epilogue: Epilogue
    private var lastPassUsedBatchStatistics = false

    /// Creates a batch norm with γ = 1, β = 0, running mean 0 and running variance 1.
    ///
    /// - Throws: `EngineError.invalidArgument` for non-positive channels, momentum outside [0, 1] or a
    ///   non-positive epsilon.
    public init(channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) throws {
        try requirePositive(channels, "batch norm channels")
        try require(momentum >= 0 && momentum <= 1, "batch norm momentum must be in [0, 1], got \(momentum)")
        try require(epsilon > 0, "batch norm epsilon must be positive, got \(epsilon)")
        self.channels = channels
        self.momentum = momentum
        self.epsilon = epsilon
        let shape = try Shape([channels])
        weight = try Parameter(name: "weight", shape: shape)
        bias = try Parameter(name: "bias", shape: shape)
        runningMean = try Parameter(name: "running_mean", shape: shape, isTrainable: false)
        runningVariance = try Parameter(name: "running_var", shape: shape, isTrainable: false)
        weight.value.data.update(repeating: 1, count: channels)
        runningVariance.value.data.update(repeating: 1, count: channels)
        (mean, variance, invstd) = (FloatStorage(count: channels), FloatStorage(count: channels), FloatStorage(count: channels))
        (scale, shift) = (FloatStorage(count: channels), FloatStorage(count: channels))
        coefficients = FloatStorage(count: 3 * channels)
        sums = ChannelSums(channels: channels)
        epilogue = Epilogue(bias: nil, channels: channels)
    }

    public var parameters: [Parameter] { [weight, bias, runningMean, runningVariance] }

    public var counters: [String: Int] { ["num_batches_tracked": batchesTracked] }

    public func setCounter(_ name: String, to value: Int) throws {
        try require(name == "num_batches_tracked", "batch norm has no counter named \(name)")
        try require(value >= 0, "num_batches_tracked must not be negative, got \(value)")
        batchesTracked = value
    }

    /// Applies a following ReLU or ReLU6 itself: clamped as the output is written, and dy masked by
    /// the clamped output in backward.
    public func absorb(_ next: Layer) -> Bool { epilogue.absorb(next) }

    public func prepare(for input: Shape) throws -> Shape {
        guard input.rank >= 2, input.channels == channels else {
            throw EngineError.shapeMismatch("batch norm expects \(channels) channels innermost, got input \(input)")
        }
        inputShape = input
        let output = input
        outputShape = output
        return output
    }

    public func forward(_ x: TensorView, into y: TensorView, context: ExecutionContext) throws {
        try checkShapes(x, y)
        let C = channels, M = x.count / C
        lastPassUsedBatchStatistics = context.isTraining
        if context.isTraining {
            guard M > 1 else {
                throw EngineError.shapeMismatch(
                    "batch norm in training needs more than one value per channel, got input \(x.shape)")
            }
            try batchNormStatistics(
                x.data, rows: M, channels: C, sums: sums, mean: mean.data, variance: variance.data,
                synchronizer: synchronizer)
            let rows = M * (synchronizer?.processCount ?? 1)
            let unbiased = Float(rows) / Float(rows - 1)
            for c in 0..<C {
                runningMean.value.data[c] = (1 - momentum) * runningMean.value.data[c] + momentum * mean.data[c]
                runningVariance.value.data[c] =
                    (1 - momentum) * runningVariance.value.data[c]
                    + momentum * variance.data[c] * unbiased
            }
            batchesTracked += 1
        } else {
            mean.data.update(from: runningMean.value.data, count: C)
            variance.data.update(from: runningVariance.value.data, count: C)
        }
        setCoefficients()
        batchNormApply(x.data, rows: M, channels: C, scale: scale.data, shift: shift.data, cap: epilogue.cap, y.data)
    }

    /// invstd, and y = x·scale + shift, from `mean` and `variance`.
    private func setCoefficients() {
        for c in 0..<channels {
            invstd.data[c] = 1 / (variance.data[c] + epsilon).squareRoot()
            scale.data[c] = weight.value.data[c] * invstd.data[c]
            shift.data[c] = bias.value.data[c] - mean.data[c] * scale.data[c]
        }
    }

    /// What an evaluation pass applies, for the layer before to apply instead (`Sequential` folds a
    /// batch norm into a depthwise convolution when evaluating): y = clamp(x·scale + shift), as
    /// `forward` would compute it, bit for bit. Leaves the layer as an evaluation `forward` does, so
    /// that a `backward` may follow.
    func evaluationAffine() -> ChannelAffine {
        lastPassUsedBatchStatistics = false
        mean.data.update(from: runningMean.value.data, count: channels)
        variance.data.update(from: runningVariance.value.data, count: channels)
        setCoefficients()
        return ChannelAffine(scale: scale.data, shift: shift.data, cap: epilogue.cap)
    }

    public func backward(
        _ dy: TensorView, input x: TensorView, output y: TensorView, into dx: TensorView?,
        context: ExecutionContext
    ) throws {
        try checkShapes(x, y, dy: dy, dx: dx)
        let gradient = try gradientSums(dy, x, inputGradient: dx != nil)
        if let dx { gradient.write(allRows: x.count / channels, to: dx.data) }
    }

    /// The backward pass without its input-gradient pass, for the layer before to compute dx image
    /// by image while its own backward reads it (`Sequential` does so for a depthwise convolution):
    /// accumulates dγ and dβ as `backward` does and returns the map from (dy, x) to dx, which stays
    /// valid until this layer's next pass.
    func inputGradient(_ dy: TensorView, input x: TensorView, output y: TensorView) throws -> BatchNormInputGradient {
        try checkShapes(x, y, dy: dy, dx: nil)
        return try gradientSums(dy, x, inputGradient: true)
    }

    /// dγ and dβ, and the coefficients of dx when `inputGradient` (`batchNormGradientCoefficients`).
    private func gradientSums(_ dy: TensorView, _ x: TensorView, inputGradient: Bool) throws -> BatchNormInputGradient {
        try batchNormGradientCoefficients(
            dy.data, x.data, rows: x.count / channels, channels: channels, cap: epilogue.cap,
            scale: scale.data, shift: shift.data, mean: mean.data, invstd: invstd.data, gamma: weight.value.data,
            batchStatistics: lastPassUsedBatchStatistics, sums: sums, coefficients: coefficients.data,
            dgamma: weight.gradient.data, dbeta: bias.gradient.data, inputGradient: inputGradient,
            synchronizer: synchronizer)
    }
}
