/// A standard k×k convolution over NHWC activations, by one of three paths that
/// `ConvolutionPolicy` chooses per shape (or the user forces): im2row + GEMM (`ColumnConv.swift`),
/// the direct kernels (`DirectConv.swift`) or Winograd F(2×2, 3×3) (`WinogradConv.swift`).
///
/// Weight layout OHWI `[outputChannels, k, k, inputChannels]`, so that a row of the weight matrix
/// `[Cout × k·k·Cin]` lines up with a row of the column matrix. The column path takes the batch in
/// blocks of images whose column buffers together hold at most `maxColumnFloats` floats
/// (`ColumnPlan`); Winograd's buffers keep within that cap too, in chunks of images. A 1×1
/// convolution with stride 1 and no padding skips im2row: the input is its own column matrix. The
/// bias and a following ReLU it absorbs run in one pass after the GEMMs, or inside the direct kernel
/// (`Epilogue`).
public final class Conv2D: Layer {
    /// The default cap on the column (or Winograd) buffers, in floats (64 MiB).
    public static let defaultMaxColumnFloats = 16 << 20

    public let kind = "conv"
    /// Input channels.
    public let inputChannels: Int
    /// Output channels.
    public let outputChannels: Int
    /// Kernel side.
    public let kernelSize: Int
    /// Stride.
    public let stride: Int
    /// Zero padding on every side.
    public let padding: Int
    /// The filters, OHWI.
    public let weight: Parameter
    /// The per-output-channel bias, if any.
    public let bias: Parameter?
    /// The rectifier this layer absorbed and applies itself, if any.
    public var fusedRectifier: ReLU? { epilogue.rectifier }
    /// The cap on the column path's buffers, and on Winograd's, in floats.
    public let maxColumnFloats: Int
    /// The algorithm asked for (`auto`: the policy's choice).
    public let algorithm: ConvolutionAlgorithm

    public private(set) var inputShape: Shape?
    public private(set) var outputShape: Shape?
    private var geometry: WindowGeometry?
    private var plan: Plan?
    private let epilogue: Epilogue

    /// Creates a convolution with zero-filled weights.
    ///
    /// - Parameter algorithm: the algorithm to run; `auto` chooses per shape (`ConvolutionPolicy`),
    ///   the others run wherever they apply and im2row + GEMM elsewhere.
    /// - Throws: `EngineError.invalidArgument` for non-positive channels, kernel or stride, or a
    ///   negative padding.
    public init(
        inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        bias: Bool = true, maxColumnFloats: Int = Conv2D.defaultMaxColumnFloats,
        algorithm: ConvolutionAlgorithm = .auto
    ) throws {
        try requirePositive(inputChannels, "conv input channels")
        try requirePositive(outputChannels, "conv output channels")
        try requirePositive(kernelSize, "conv kernel size")
        try requirePositive(stride, "conv stride")
        try require(padding >= 0, "conv padding must not be negative, got \(padding)")
        try requirePositive(maxColumnFloats, "conv column-buffer cap")
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.maxColumnFloats = maxColumnFloats
        self.algorithm = algorithm
        let k = kernelSize * kernelSize
        weight = try Parameter(
            name: "weight", shape: try Shape([outputChannels, kernelSize, kernelSize, inputChannels]),
            layout: .ohwi, isWeight: true,
            fanIn: inputChannels * k, fanOut: outputChannels * k)
        self.bias = bias ? try Parameter(name: "bias", shape: try Shape([outputChannels])) : nil
        epilogue = Epilogue(bias: self.bias, channels: outputChannels)
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    /// Takes over a following ReLU or ReLU6.
    public func absorb(_ next: Layer) -> Bool { epilogue.absorb(next) }

    private var columnWidth: Int { kernelSize * kernelSize * inputChannels }

    /// How the layer computes its passes, with each path's plan.
    enum Plan {
        /// The direct kernels (`DirectConv.swift`).
        case direct
        /// Winograd F(2×2, 3×3) (`WinogradConv.swift`).
        case winograd(WinogradPlan)
        /// im2row + GEMM (`ColumnConv.swift`).
        case column(ColumnPlan)
    }

    /// The path the layer takes for its prepared shape (nil before `prepare(for:)`).
    public var path: ConvolutionPath? {
        switch plan {
        case .direct: return .direct
        case .winograd: return .winograd
        case .column: return .im2col
        case nil: return nil
        }
    }

    public func prepare(for input: Shape) throws -> Shape {
        let g = try WindowGeometry(input: input, kernel: kernelSize, stride: stride, padding: padding, role: "conv")
        guard input.channels == inputChannels else {
            throw EngineError.shapeMismatch("conv expects \(inputChannels) input channels, got input \(input)")
        }
        geometry = g
        inputShape = input
        plan = ConvolutionPolicy.plan(g, outputChannels: outputChannels, algorithm: algorithm, maxColumnFloats: maxColumnFloats)
        let output = try Shape([input.batch, g.outputHeight, g.outputWidth, outputChannels])
        outputShape = output
        return output
    }

    public var workspaceCount: Int {
        guard let g = geometry, let plan else { return 0 }
        switch plan {
        case .direct: return directConvScratch(g, outputChannels: outputChannels)
        case .winograd(let plan): return plan.scratchCount
        case .column(let plan): return plan.scratchCount
        }
    }

    public var multiplyAccumulates: Int {
        guard let g = geometry else { return 0 }
        return g.batch * g.outputHeight * g.outputWidth * columnWidth * outputChannels
    }

    public func forward(_ x: TensorView, into y: TensorView, context: ExecutionContext) throws {
        try forward(x, into: y, affine: nil, context: context)
    }

    /// The forward pass with a batch norm in evaluation that follows it folded in (`affine`, applied
    /// after the bias and the layer's own rectifier): inside the direct kernel while each pixel is in
    /// cache, else in the epilogue's one pass after the product. The same bits as the two layers'
    /// passes.
    func forward(_ x: TensorView, into y: TensorView, affine: ChannelAffine?, context: ExecutionContext) throws {
        try checkShapes(x, y)
        guard let g = geometry, let plan else { return }
        let scratch = try context.workspace.floats(workspaceCount, for: "conv")
        let rows = g.batch * g.outputHeight * g.outputWidth
        switch plan {
        case .direct:
            directConvForward(
                x.data, weight.value.data, bias.map { UnsafePointer($0.value.data) }, g,
                outputChannels: outputChannels, cap: epilogue.cap, affine: affine, y.data, scratch: scratch)
            return
        case .winograd(let plan):
            winogradConvForward(x.data, weight.value.data, plan, y.data, scratch: scratch)
        case .column(let plan):
            columnConvForward(x.data, weight.value.data, plan, y.data, scratch: scratch)
        }
        epilogue.apply(rows: rows, channels: outputChannels, y, affine: affine)
    }

    public func backward(
        _ dy: TensorView, input x: TensorView, output y: TensorView, into dx: TensorView?,
        context: ExecutionContext
    ) throws {
        try checkShapes(x, y, dy: dy, dx: dx)
        guard let g = geometry, let plan else { return }
        let rows = g.batch * g.outputHeight * g.outputWidth
        epilogue.backward(dy, output: y, rows: rows, channels: outputChannels)
        let scratch = try context.workspace.floats(workspaceCount, for: "conv")
        switch plan {
        case .direct:
            directConvBackward(
                dy.data, x.data, weight.value.data, g, outputChannels: outputChannels, weight.gradient.data,
                dx?.data, scratch: scratch)
        case .winograd(let plan):
            winogradConvBackward(dy.data, x.data, weight.value.data, plan, weight.gradient.data, dx?.data, scratch: scratch)
        case .column(let plan):
            columnConvBackward(dy.data, x.data, weight.value.data, plan, weight.gradient.data, dx?.data, scratch: scratch)
        }
    }
}
