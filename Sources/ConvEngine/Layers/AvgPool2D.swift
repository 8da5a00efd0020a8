/// Average pooling over k×k windows; padded positions count in the divisor (PyTorch's default).
public final class AvgPool2D: Layer {
    public let kind = "avgpool"
    /// Window side.
    public let kernelSize: Int
    /// Stride (defaults to the window side).
    public let stride: Int
    /// Zero padding on every side.
    public let padding: Int

    public private(set) var inputShape: Shape?
    public private(set) var outputShape: Shape?
    private var geometry: WindowGeometry?

    /// Creates an average pool; `stride` defaults to `kernelSize`.
    ///
    /// - Throws: `EngineError.invalidArgument` for a non-positive window or stride, or a negative padding.
    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0) throws {
        try requirePositive(kernelSize, "average pool kernel size")
        try requirePositive(stride ?? kernelSize, "average pool stride")
        try require(padding >= 0, "average pool padding must not be negative, got \(padding)")
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
    }

    public func prepare(for input: Shape) throws -> Shape {
        let g = try WindowGeometry(input: input, kernel: kernelSize, stride: stride, padding: padding, role: "average pool")
        geometry = g
        inputShape = input
        let output = try Shape([input.batch, g.outputHeight, g.outputWidth, input.channels])
        outputShape = output
        return output
    }

    public func forward(_ x: TensorView, into y: TensorView, context: ExecutionContext) throws {
        try checkShapes(x, y)
        guard let g = geometry else { return }
        avgPoolForward(x.data, g, y.data)
    }

    public func backward(
        _ dy: TensorView, input x: TensorView, output y: TensorView, into dx: TensorView?,
        context: ExecutionContext
    ) throws {
        try checkShapes(x, y, dy: dy, dx: dx)
        guard let g = geometry, let dx else { return }
        avgPoolBackward(dy.data, g, dx.data)
    }
}
