/// A standard k×k convolution over NHWC activations, lowered to im2row + one GEMM per pass.
///
/// Weight layout OHWI `[outputChannels, k, k, inputChannels]`, so that a row of the weight matrix
/// `[Cout × k·k·Cin]` lines up with a row of the column matrix. When the column matrix of the whole
/// batch would exceed `maxColumnFloats`, the batch is processed in chunks of images (one GEMM per
/// chunk). A 1×1 convolution with stride 1 and no padding skips im2row: the input is its own column matrix.
/// With at most `directConvolutionMaxChannels` input channels (an RGB stem) the layer uses direct
/// kernels instead (`DirectConv.swift`), which beat the thin column matrix's GEMM. The bias and a
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
    private var chunkImages = 1
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
    private var isDirect: Bool { inputChannels <= directConvolutionMaxChannels && !isPointwise }
    private var columnWidth: Int { kernelSize * kernelSize * inputChannels }

    public func prepare(for input: Shape) throws -> Shape {
        let g = try WindowGeometry(input: input, kernel: kernelSize, stride: stride, padding: padding, role: "conv")
        guard input.channels == inputChannels else {
            throw EngineError.shapeMismatch("conv expects \(inputChannels) input channels, got input \(input)")
        }
        geometry = g
        inputShape = input
        let rowsPerImage = g.outputHeight * g.outputWidth
        chunkImages = max(1, min(input.batch, maxColumnFloats / max(1, rowsPerImage * columnWidth)))
        let output = Shape(unchecked: [input.batch, g.outputHeight, g.outputWidth, outputChannels])
        outputShape = output
        return output
    }

    public var workspaceCount: Int {
        guard let g = geometry, !isPointwise else { return 0 }
        if isDirect { return directConvScratch(g, outputChannels: outputChannels) }
        return chunkImages * g.outputHeight * g.outputWidth * columnWidth
    }

    public var multiplyAccumulates: Int {
        guard let g = geometry else { return 0 }
        return g.batch * g.outputHeight * g.outputWidth * columnWidth * outputChannels
    }

    public func forward(_ x: TensorView, into y: TensorView, context: ExecutionContext) throws {
        try checkShapes(x, y)
        guard let g = geometry else { return }
        if isDirect {
            directConvForward(x.data, weight.value.data, bias.map { UnsafePointer($0.value.data) }, g,
                              outputChannels: outputChannels, cap: epilogue.cap, y.data, scratch: try context.workspace.floats(workspaceCount, for: "conv"))
            return
        }
        let rowsPerImage = g.outputHeight * g.outputWidth
        var first = 0
        while first < g.batch {
            let count = min(chunkImages, g.batch - first)
            let col: UnsafePointer<Float>
            if isPointwise { col = UnsafePointer(x.data + first * rowsPerImage * inputChannels) } else {
                let columns = try context.workspace.floats(workspaceCount, for: "conv")
                im2row(x.data, g, images: first, count: count, into: columns)
                col = UnsafePointer(columns)
            }
            BLAS.gemm(transposeB: true, m: count * rowsPerImage, n: outputChannels, k: columnWidth,
                      a: col, b: weight.value.data, c: y.data + first * rowsPerImage * outputChannels)
            first += count
        }
        epilogue.apply(rows: g.batch * rowsPerImage, channels: outputChannels, y)
    }

    public func backward(_ dy: TensorView, input x: TensorView, output y: TensorView, into dx: TensorView?,
                         context: ExecutionContext) throws {
        try checkShapes(x, y, dy: dy, dx: dx)
        guard let g = geometry else { return }
        let rowsPerImage = g.outputHeight * g.outputWidth
        epilogue.backward(dy, output: y, rows: g.batch * rowsPerImage, channels: outputChannels)
        if isDirect {
            let scratch = try context.workspace.floats(workspaceCount, for: "conv")
            directConvBackwardWeight(dy.data, x.data, g, outputChannels: outputChannels, weight.gradient.data, scratch: scratch)
            if let dx { directConvBackwardInput(dy.data, weight.value.data, g, outputChannels: outputChannels, dx.data, scratch: scratch) }
            return
        }
        dx?.zero()
        var first = 0
        while first < g.batch {
            let count = min(chunkImages, g.batch - first)
            let rows = count * rowsPerImage
            let dyChunk = dy.data + first * rowsPerImage * outputChannels
            let col: UnsafeMutablePointer<Float>
            if isPointwise { col = x.data + first * rowsPerImage * inputChannels } else {
                col = try context.workspace.floats(workspaceCount, for: "conv")
                im2row(x.data, g, images: first, count: count, into: col)
            }
            // dW[Cout × K] += dYᵀ · col
            BLAS.gemm(transposeA: true, m: outputChannels, n: columnWidth, k: rows,
                      a: dyChunk, b: col, beta: 1, c: weight.gradient.data)
            if let dx {
                if isPointwise {
                    BLAS.gemm(m: rows, n: columnWidth, k: outputChannels, a: dyChunk, b: weight.value.data,
                              c: dx.data + first * rowsPerImage * inputChannels)
                } else {
                    // dcol = dY · W reuses the column buffer, then folds back into dx.
                    BLAS.gemm(m: rows, n: columnWidth, k: outputChannels, a: dyChunk, b: weight.value.data, c: col)
                    row2im(col, g, images: first, count: count, into: dx.data)
                }
            }
            first += count
        }
    }
}
