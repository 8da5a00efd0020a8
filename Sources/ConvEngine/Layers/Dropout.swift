/// Inverted dropout: in training each element is zeroed with probability p and the survivors scaled
/// by 1/(1 − p); in evaluation it is the identity.
public final class Dropout: Layer {
    public let kind = "dropout"
    /// The probability of dropping an element, in [0, 1).
    public let probability: Float

    public private(set) var inputShape: Shape?
    public private(set) var outputShape: Shape?
    private var mask = FloatStorage(count: 0)

    /// Creates a dropout layer.
    ///
    /// - Throws: `EngineError.invalidArgument` unless 0 ≤ probability < 1.
    public init(probability: Float) throws {
        try require(probability >= 0 && probability < 1, "dropout probability must be in [0, 1), got \(probability)")
        self.probability = probability
    }

    public var canRunInPlace: Bool { true }

    public func prepare(for input: Shape) throws -> Shape {
        if mask.count < input.count { mask = FloatStorage(count: input.count) }
        inputShape = input
        let output = input
        outputShape = output
        return output
    }

    public func forward(_ x: TensorView, into y: TensorView, context: ExecutionContext) throws {
        try checkShapes(x, y)
        let count = x.count, m = mask.data
        guard context.isTraining, probability > 0 else {
            m.update(repeating: 1, count: count)
            if y.data != x.data { y.data.update(from: x.data, count: count) }
            return
        }
        let keep = 1 / (1 - probability)
        for i in 0..<count { m[i] = context.generator.nextUniform() < probability ? 0 : keep }
        for i in 0..<count { y.data[i] = x.data[i] * m[i] }
    }

    public func backward(
        _ dy: TensorView, input x: TensorView, output y: TensorView, into dx: TensorView?,
        context: ExecutionContext
    ) throws {
        try checkShapes(x, y, dy: dy, dx: dx)
        guard let dx else { return }
        for i in 0..<dy.count { dx.data[i] = dy.data[i] * mask.data[i] }
    }
}
