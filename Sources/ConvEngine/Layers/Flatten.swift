/// Flattens each batch item: `[N, H, W, C]` → `[N, H·W·C]`, in NHWC order.
///
/// PyTorch flattens NCHW; a `Linear` fed by this layer marks its weight so that checkpoints store
/// PyTorch's column order (see `ParameterLayout.linearAfterNHWCFlatten`).
public final class Flatten: Layer {
    public let kind = "flatten"
    public private(set) var inputShape: Shape?
    public private(set) var outputShape: Shape?

    /// Creates a flatten.
    public init() {}

    public var canRunInPlace: Bool { true }

    public func prepare(for input: Shape) throws -> Shape {
        inputShape = input
        let output = try Shape([input.batch, input.itemCount])
        outputShape = output
        return output
    }

    public func forward(_ x: TensorView, into y: TensorView, context: ExecutionContext) throws {
        try checkShapes(x, y)
        if y.data != x.data { y.data.update(from: x.data, count: x.count) }
    }

    public func backward(
        _ dy: TensorView, input x: TensorView, output y: TensorView, into dx: TensorView?,
        context: ExecutionContext
    ) throws {
        try checkShapes(x, y, dy: dy, dx: dx)
        if let dx, dx.data != dy.data { dx.data.update(from: dy.data, count: dy.count) }
    }
}
