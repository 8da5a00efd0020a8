/// A standard k×k convolution over NHWC activations, lowered to im2row + GEMM (`ColumnConv.swift`).
///
/// Weight layout OHWI `[outputChannels, k, k, inputChannels]`, so that a row of the weight matrix
/// `[Cout × k·k·Cin]` lines up with a row of the column matrix. The batch goes through in blocks of
/// images whose column buffers together hold at most `maxColumnFloats` floats (`ColumnPlan`). A 1×1
/// convolution with stride 1 and no padding skips im2row: the input is its own column matrix.
/// An RGB stem, and 3×3 windows over 16 to 128 channels at stride 1, use direct kernels instead
/// (`DirectConv.swift`, `isDirectConvolution`), which beat the column matrix's GEMM there. The bias and a
/// following ReLU it absorbs run in one pass after the GEMMs, or inside the direct kernel (`Epilogue`).
public final class Conv2D: Layer {
    /// The default cap on the column buffer, in floats (64 MiB).
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
    /// The column-buffer cap in floats.
    public let maxColumnFloats: Int

    public private(set) var inputShape: Shape?
    public private(set) var outputShape: Shape?
    private var geometry: WindowGeometry?
    private var plan: ColumnPlan?
    private let epilogue: Epilogue

    /// Creates a convolution with zero-filled weights.
    ///
    /// - Throws: `EngineError.invalidArgument` for non-positive channels, kernel or stride, or a
    ///   negative padding.
    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool = true, maxColumnFloats: Int = Conv2D.defaultMaxColumnFloats) throws {
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
        let k = kernelSize * kernelSize
        weight = Parameter(name: "weight", shape: Shape(unchecked: [outputChannels, kernelSize, kernelSize, inputChannels]),
                           layout: .ohwi, isWeight: true,
                           fanIn: inputChannels * k, fanOut: outputChannels * k)
        self.bias = bias ? Parameter(name: "bias", shape: Shape(unchecked: [outputChannels])) : nil
        epilogue = Epilogue(bias: self.bias, channels: outputChannels)
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    /// Takes over a following ReLU or ReLU6.
    public func absorb(_ next: Layer) -> Bool { epilogue.absorb(next) }

    private var isPointwise: Bool { kernelSize == 1 && stride == 1 && padding == 0 }
    private var isDirect: Bool { !isPointwise && isDirectConvolution(inputChannels: inputChannels, kernel: kernelSize, stride: stride) }
    private var columnWidth: Int { kernelSize * kernelSize * inputChannels }

    public func prepare(for input: Shape) throws -> Shape {
        let g = try WindowGeometry(input: input, kernel: kernelSize, stride: stride, padding: padding, role: "conv")
        guard input.channels == inputChannels else {
            throw EngineError.shapeMismatch("conv expects \(inputChannels) input channels, got input \(input)")
        }
        geometry = g
        inputShape = input
        plan = isDirect ? nil : ColumnPlan(g, outputChannels: outputChannels, maxColumnFloats: maxColumnFloats)
        let output = Shape(unchecked: [input.batch, g.outputHeight, g.outputWidth, outputChannels])
        outputShape = output
        return output
    }

    public var workspaceCount: Int {
        guard let g = geometry else { return 0 }
        return isDirect ? directConvScratch(g, outputChannels: outputChannels) : plan?.scratchCount ?? 0
    }

    public var multiplyAccumulates: Int {
        guard let g = geometry else { return 0 }
        return g.batch * g.outputHeight * g.outputWidth * columnWidth * outputChannels
    }

    public func forward(_ x: TensorView, into y: TensorView, context: ExecutionContext) throws {
        try checkShapes(x, y)
        guard let g = geometry else { return }
        let scratch = try context.workspace.floats(workspaceCount, for: "conv")
        if isDirect {
            // The product the column path would run, so that `bench` compares the layer with it.
            GemmTrace.recordLowered(.init(m: g.batch * g.outputHeight * g.outputWidth, n: outputChannels, k: columnWidth, transposeB: true))
            directConvForward(x.data, weight.value.data, bias.map { UnsafePointer($0.value.data) }, g,
                              outputChannels: outputChannels, cap: epilogue.cap, y.data, scratch: scratch)
        } else if let plan {
            columnConvForward(x.data, weight.value.data, plan, y.data, scratch: scratch)
            epilogue.apply(rows: g.batch * plan.rowsPerImage, channels: outputChannels, y)
        }
    }

    public func backward(_ dy: TensorView, input x: TensorView, output y: TensorView, into dx: TensorView?,
                         context: ExecutionContext) throws {
        try checkShapes(x, y, dy: dy, dx: dx)
        guard let g = geometry else { return }
        epilogue.backward(dy, output: y, rows: g.batch * g.outputHeight * g.outputWidth, channels: outputChannels)
        let scratch = try context.workspace.floats(workspaceCount, for: "conv")
        if isDirect {
            let rows = g.batch * g.outputHeight * g.outputWidth
            GemmTrace.recordLowered(.init(m: outputChannels, n: columnWidth, k: rows, transposeA: true))
            if dx != nil { GemmTrace.recordLowered(.init(m: rows, n: columnWidth, k: outputChannels)) }
            directConvBackwardWeight(dy.data, x.data, g, outputChannels: outputChannels, weight.gradient.data, scratch: scratch)
            if let dx { directConvBackwardInput(dy.data, weight.value.data, g, outputChannels: outputChannels, dx.data, scratch: scratch) }
        } else if let plan {
            columnConvBackward(dy.data, x.data, weight.value.data, plan, weight.gradient.data, dx?.data, scratch: scratch)
        }
    }
}
