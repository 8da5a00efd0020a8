/// A 1×1 convolution as exactly one GEMM per pass over the whole batch: the NHWC batch is the matrix
/// `X [N·H·W × Cin]`, and `Y = X · Wᵀ` with `W [Cout × Cin]` (PyTorch: `[Cout, Cin, 1, 1]`).
///
/// Backward is `dW += dYᵀ · X` and `dX = dY · W`: two GEMMs, one when no input gradient is needed.
/// The bias and a following ReLU it absorbs run on each chunk of rows as the GEMM writes it, while it
/// is in cache (`GemmEpilogue`); so does a batch norm after it when evaluating (`Sequential` folds it).
///
/// Evaluation passes on the GEMM path run on the engine's own GEMM over the weights packed whole
/// (`BLAS.packedGemm`, where the engine is built for AVX2 or AVX-512): packed on every pass, or once in a
/// network whose weights are frozen (`Sequential.freezeWeights()`), with the same bits either way.
///
/// Where `ConvolutionPolicy` says so (32 input channels, or when the direct kernels are forced), the
/// layer runs on the direct kernels of `DirectConv.swift` as a 1×1 window instead, bias and rectifier
/// in registers.
public final class PointwiseConv2D: Layer {
    public let kind = "pw"
    /// Input channels.
    public let inputChannels: Int
    /// Output channels.
    public let outputChannels: Int
    /// The weights `[Cout, Cin]`.
    public let weight: Parameter
    /// The per-output-channel bias, if any.
    public let bias: Parameter?
    /// The rectifier this layer absorbed and applies itself, if any.
    public var fusedRectifier: ReLU? { epilogue.rectifier }

    /// The algorithm asked for (`auto`: the policy's choice).
    public let algorithm: ConvolutionAlgorithm

    private let epilogue: Epilogue
    /// The 1×1 window of the direct kernels, when they run this layer.
    private var direct: WindowGeometry?
    /// The weights packed by `freezeWeights()`; kept after a thaw, so that the next freeze packs
    /// into the same buffer.
    private var packed: PackedWeights?
    /// Whether evaluation passes on the GEMM path read `packed`.
    private var isFrozen = false
    public private(set) var inputShape: Shape?
    public private(set) var outputShape: Shape?

    /// Creates a pointwise convolution with zero-filled weights.
    ///
    /// - Parameter algorithm: `auto` lets `ConvolutionPolicy` choose; `direct` forces the direct
    ///   kernels; `im2col` and `winograd` (which has nothing for 1×1 windows) the GEMM.
    /// - Throws: `EngineError.invalidArgument` for non-positive channel counts.
    public init(inputChannels: Int, outputChannels: Int, bias: Bool = false, algorithm: ConvolutionAlgorithm = .auto) throws {
        try requirePositive(inputChannels, "pointwise input channels")
        try requirePositive(outputChannels, "pointwise output channels")
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.algorithm = algorithm
        weight = try Parameter(
            name: "weight", shape: try Shape([outputChannels, inputChannels]),
            layout: .pointwise, isWeight: true, fanIn: inputChannels, fanOut: outputChannels)
        self.bias = bias ? try Parameter(name: "bias", shape: try Shape([outputChannels])) : nil
        epilogue = Epilogue(bias: self.bias, channels: outputChannels)
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    /// Takes over a following ReLU or ReLU6.
    public func absorb(_ next: Layer) -> Bool { epilogue.absorb(next) }

    public func prepare(for input: Shape) throws -> Shape {
        try input.requireRank(4, "pointwise conv input")
        guard input.channels == inputChannels else {
            throw EngineError.shapeMismatch("pointwise conv expects \(inputChannels) input channels, got input \(input)")
        }
        inputShape = input
        direct =
            ConvolutionPolicy.pointwiseUsesDirectKernels(inputChannels: inputChannels, algorithm: algorithm)
            ? try WindowGeometry(input: input, kernel: 1, stride: 1, padding: 0, role: "pointwise conv") : nil
        let output = input.withChannels(outputChannels)
        outputShape = output
        return output
    }

    /// The path the layer takes for its prepared shape (nil before `prepare(for:)`).
    public var path: ConvolutionPath? { inputShape == nil ? nil : direct == nil ? .gemm : .direct }

    private var rows: Int { (inputShape?.count ?? 0) / inputChannels }

    public var multiplyAccumulates: Int { rows * inputChannels * outputChannels }

    public var workspaceCount: Int { direct.map { directConvScratch($0, outputChannels: outputChannels) } ?? 0 }

    public func forward(_ x: TensorView, into y: TensorView, context: ExecutionContext) throws {
        try forward(x, into: y, affine: nil, context: context)
    }

    /// The forward pass with a batch norm in evaluation that follows it folded in (`affine`, applied
    /// after the bias and the layer's own rectifier) to each chunk of rows on the GEMM path, and to
    /// each pixel on the direct path, while it is in cache. The same bits as the two layers' passes.
    func forward(_ x: TensorView, into y: TensorView, affine: ChannelAffine?, context: ExecutionContext) throws {
        try checkShapes(x, y)
        if let g = direct {
            directConvForward(
                x.data, weight.value.data, bias.map { UnsafePointer($0.value.data) }, g,
                outputChannels: outputChannels, cap: epilogue.cap, affine: affine, y.data,
                scratch: try context.workspace.floats(workspaceCount, for: "pw"))
            return
        }
        let gemmEpilogue = GemmEpilogue(bias: bias.map { UnsafePointer($0.value.data) }, cap: epilogue.cap, affine: affine)
        if !context.isTraining, PanelGemm.isEngineKernel {
            BLAS.packedGemm(
                transposeB: true, m: rows, n: outputChannels, k: inputChannels, a: x.data, b: weight.value.data,
                weights: isFrozen ? packed : nil, c: y.data, epilogue: gemmEpilogue)
            return
        }
        BLAS.gemm(
            transposeB: true, m: rows, n: outputChannels, k: inputChannels,
            a: x.data, b: weight.value.data, c: y.data, onThisThread: false, epilogue: gemmEpilogue)
    }

    /// Packs the weights for evaluation passes on the GEMM path (where `PanelGemm`, which reads
    /// them, is the engine's kernel; the direct kernels read the weights where they are).
    func freezeWeights() {
        guard PanelGemm.isEngineKernel,
            !ConvolutionPolicy.pointwiseUsesDirectKernels(inputChannels: inputChannels, algorithm: algorithm)
        else { return }
        if let packed {
            packed.pack(weight.value.data)
        } else {
            packed = PackedWeights(transposeB: true, weight.value.data, n: outputChannels, k: inputChannels)
        }
        isFrozen = true
    }

    func thawWeights() { isFrozen = false }

    public func backward(
        _ dy: TensorView, input x: TensorView, output y: TensorView, into dx: TensorView?,
        context: ExecutionContext
    ) throws {
        try checkShapes(x, y, dy: dy, dx: dx)
        epilogue.backward(dy, output: y, rows: rows, channels: outputChannels)
        if let g = direct {
            directConvBackward(
                dy.data, x.data, weight.value.data, g, outputChannels: outputChannels, weight.gradient.data,
                dx?.data, scratch: try context.workspace.floats(workspaceCount, for: "pw"))
            return
        }
        BLAS.gemm(
            transposeA: true, m: outputChannels, n: inputChannels, k: rows,
            a: dy.data, b: x.data, beta: 1, c: weight.gradient.data)
        if let dx {
            BLAS.gemm(m: rows, n: inputChannels, k: outputChannels, a: dy.data, b: weight.value.data, c: dx.data)
        }
    }
}
