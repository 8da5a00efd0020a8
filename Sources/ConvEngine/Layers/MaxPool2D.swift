/// Max pooling over k×k windows; backward routes each gradient to the input that won.
public final class MaxPool2D: Layer {
    public let kind = "maxpool"
    /// Window side.
    public let kernelSize: Int
    /// Stride (defaults to the window side).
    public let stride: Int
    /// Padding (padded positions never win).
    public let padding: Int

    public private(set) var inputShape: Shape?
    public private(set) var outputShape: Shape?
    private var geometry: WindowGeometry?
    private var argmax = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private var argmaxCapacity = 1

    /// Creates a max pool; `stride` defaults to `kernelSize`.
    ///
    /// - Throws: `EngineError.invalidArgument` for a non-positive window or stride, or a negative padding.
    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0) throws {
        try requirePositive(kernelSize, "max pool kernel size")
        try requirePositive(stride ?? kernelSize, "max pool stride")
        try require(padding >= 0, "max pool padding must not be negative, got \(padding)")
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
    }

    deinit { argmax.deallocate() }

    public func prepare(for input: Shape) throws -> Shape {
        let g = try WindowGeometry(input: input, kernel: kernelSize, stride: stride, padding: padding, role: "max pool")
        let out = try Shape([input.batch, g.outputHeight, g.outputWidth, input.channels])
        guard input.count <= Int(Int32.max) else {
            throw EngineError.shapeMismatch("max pool input \(input) has more than 2³¹ elements")
        }
        if out.count > argmaxCapacity {
            argmax.deallocate()
            argmax = .allocate(capacity: out.count)
            argmaxCapacity = out.count
        }
        geometry = g
        inputShape = input
        let output = out
        outputShape = output
        return output
    }

    public func forward(_ x: TensorView, into y: TensorView, context: ExecutionContext) throws {
        try checkShapes(x, y)
        guard let g = geometry else { return }
        maxPoolForward(x.data, g, y.data, argmax)
    }

    public func backward(
        _ dy: TensorView, input x: TensorView, output y: TensorView, into dx: TensorView?,
        context: ExecutionContext
    ) throws {
        try checkShapes(x, y, dy: dy, dx: dx)
        guard let g = geometry, let dx else { return }
        maxPoolBackward(dy.data, argmax, g, dx.data)
    }
}
