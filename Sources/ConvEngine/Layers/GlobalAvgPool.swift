/// The mean over all spatial positions: `[N, H, W, C]` → `[N, C]`.
public final class GlobalAvgPool: Layer {
    public let kind = "gap"
    public private(set) var inputShape: Shape?
    public private(set) var outputShape: Shape?

    /// Creates a global average pool.
    public init() {}

    public func prepare(for input: Shape) throws -> Shape {
        try input.requireRank(4, "global average pool input")
        inputShape = input
        let output = try Shape([input.batch, input.channels])
        outputShape = output
        return output
    }

    public func forward(_ x: TensorView, into y: TensorView, context: ExecutionContext) throws {
        try checkShapes(x, y)
        globalAvgPoolForward(
            x.data, batch: x.shape.batch, spatial: x.shape.height * x.shape.width,
            channels: x.shape.channels, y.data)
    }

    public func backward(
        _ dy: TensorView, input x: TensorView, output y: TensorView, into dx: TensorView?,
        context: ExecutionContext
    ) throws {
        try checkShapes(x, y, dy: dy, dx: dx)
        guard let dx else { return }
        globalAvgPoolBackward(
            dy.data, batch: x.shape.batch, spatial: x.shape.height * x.shape.width,
            channels: x.shape.channels, dx.data)
    }
}
