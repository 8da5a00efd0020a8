/// A depthwise k×k convolution: every channel filtered by its own kernel, by a direct kernel (no GEMM).
///
/// Weight layout `[k, k, channels]` (PyTorch: `[channels, 1, k, k]`). A following ReLU it absorbs
/// (`Epilogue`) is applied by the kernels image by image: a clamp in the forward kernel, a mask of dy
/// as the backward kernel takes each image's gradient.
public final class DepthwiseConv2D: Layer {
    public let kind = "dw"
    /// Channels in and out.
    public let channels: Int
    /// Kernel side.
    public let kernelSize: Int
    /// Stride.
    public let stride: Int
    /// Zero padding on every side.
    public let padding: Int
    /// The filters, `[k, k, channels]`.
    public let weight: Parameter
    /// The per-channel bias, if any.
    public let bias: Parameter?
    /// The rectifier this layer absorbed and applies itself, if any.
    public var fusedRectifier: ReLU? { epilogue.rectifier }

    /// Holds the absorbed rectifier; the kernels add the bias, sum its gradient and apply the
    /// rectifier themselves.
    private let epilogue: Epilogue
    public private(set) var inputShape: Shape?
    public private(set) var outputShape: Shape?
    private(set) var geometry: WindowGeometry?

    /// Creates a depthwise convolution with zero-filled weights.
    ///
    /// - Throws: `EngineError.invalidArgument` for non-positive channels, kernel or stride, or a
    ///   negative padding.
    public init(channels: Int, kernelSize: Int = 3, stride: Int = 1, padding: Int = 1, bias: Bool = false) throws {
        try requirePositive(channels, "depthwise channels")
        try requirePositive(kernelSize, "depthwise kernel size")
        try requirePositive(stride, "depthwise stride")
        try require(padding >= 0, "depthwise padding must not be negative, got \(padding)")
        self.channels = channels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        let k = kernelSize * kernelSize
        // Each channel's filter sees k·k inputs and feeds k·k outputs (the seed's fan convention).
        weight = try Parameter(
            name: "weight", shape: try Shape([kernelSize, kernelSize, channels]),
            layout: .depthwiseHWC, isWeight: true, fanIn: k, fanOut: k)
        self.bias = bias ? try Parameter(name: "bias", shape: try Shape([channels])) : nil
        epilogue = Epilogue(bias: nil, channels: channels)
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    /// Takes over a following ReLU or ReLU6.
    public func absorb(_ next: Layer) -> Bool { epilogue.absorb(next) }

    public func prepare(for input: Shape) throws -> Shape {
        let g = try WindowGeometry(input: input, kernel: kernelSize, stride: stride, padding: padding, role: "depthwise conv")
        guard input.channels == channels else {
            throw EngineError.shapeMismatch("depthwise conv expects \(channels) channels, got input \(input)")
        }
        geometry = g
        inputShape = input
        let output = try Shape([input.batch, g.outputHeight, g.outputWidth, channels])
        outputShape = output
        return output
    }

    public var workspaceCount: Int { geometry.map(depthwiseScratch) ?? 0 }

    public var multiplyAccumulates: Int {
        guard let g = geometry else { return 0 }
        return g.batch * g.outputHeight * g.outputWidth * channels * kernelSize * kernelSize
    }

    public func forward(_ x: TensorView, into y: TensorView, context: ExecutionContext) throws {
        try forward(x, into: y, affine: nil, context: context)
    }

    /// The forward pass with a batch norm in evaluation that follows it folded in (`affine`, applied
    /// to each image while it is in cache, in place of the rectifier this layer would apply).
    func forward(_ x: TensorView, into y: TensorView, affine: ChannelAffine?, context: ExecutionContext) throws {
        try checkShapes(x, y)
        guard let g = geometry else { return }
        depthwiseForward(
            x.data, weight.value.data, bias.map { UnsafePointer($0.value.data) }, g, cap: epilogue.cap,
            affine: affine, y.data)
    }

    public func backward(
        _ dy: TensorView, input x: TensorView, output y: TensorView, into dx: TensorView?,
        context: ExecutionContext
    ) throws {
        try checkShapes(x, y, dy: dy, dx: dx)
        try backward(.output(dy.data, rectified: y.data, cap: epilogue.cap), input: x, into: dx, context: context)
    }

    /// The backward pass when the batch norm after this layer (which has no rectifier of its own)
    /// hands over its input gradient instead of writing it (`BatchNorm.inputGradient`): each image of
    /// this layer's dy is computed while in cache and read there by both gradients. `Sequential` runs
    /// the pair so in training; the result is the same bits as the two backward passes.
    func backward(
        from norm: BatchNormInputGradient, input x: TensorView, output y: TensorView, into dx: TensorView?,
        context: ExecutionContext
    ) throws {
        guard epilogue.cap == nil else {
            throw EngineError.invalidArgument("dw: a rectifier between it and the batch norm must run on its own")
        }
        try checkShapes(x, y, dy: nil, dx: dx)
        try backward(.batchNorm(norm), input: x, into: dx, context: context)
    }

    private func backward(
        _ gradient: DepthwiseOutputGradient, input x: TensorView, into dx: TensorView?, context: ExecutionContext
    ) throws {
        guard let g = geometry else { return }
        let scratch = try context.workspace.floats(depthwiseScratch(g), for: "depthwise conv")
        depthwiseBackward(
            gradient, x.data, weight.value.data, g, weight.gradient.data, bias?.gradient.data, dx?.data,
            scratch: scratch)
    }
}
