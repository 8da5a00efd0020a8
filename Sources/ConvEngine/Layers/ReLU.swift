/// The rectifier y = max(x, 0), optionally capped: y = min(max(x, 0), cap). Safe to run in place.
public class ReLU: Layer {
    public let kind: String
    /// The upper bound, if any (6 for ReLU6).
    public let cap: Float?
    public private(set) var inputShape: Shape?
    public private(set) var outputShape: Shape?

    init(validatedCap cap: Float?) {
        self.cap = cap
        kind = cap.map { "relu\($0.formatted)" } ?? "relu"
    }

    /// Creates the plain rectifier max(x, 0).
    public convenience init() { self.init(validatedCap: nil) }

    /// Creates the capped rectifier min(max(x, 0), cap); `cap` must be positive.
    public convenience init(cap: Float) throws {
        try require(cap > 0, "ReLU cap must be positive, got \(cap)")
        self.init(validatedCap: cap)
    }

    public var canRunInPlace: Bool { true }
    public var backwardReadsOutput: Bool { true }

    public func prepare(for input: Shape) throws -> Shape {
        inputShape = input
        let output = input
        outputShape = output
        return output
    }

    public func forward(_ x: TensorView, into y: TensorView, context: ExecutionContext) throws {
        try checkShapes(x, y)
        reluForward(x.data, count: x.count, cap: cap, y.data)
    }

    /// Uses only the forward output, so it stays correct when forward ran in place.
    public func backward(
        _ dy: TensorView, input x: TensorView, output y: TensorView, into dx: TensorView?,
        context: ExecutionContext
    ) throws {
        try checkShapes(x, y, dy: dy, dx: dx)
        if let dx { reluBackward(dy.data, y.data, count: y.count, cap: cap, dx.data) }
    }
}

/// The rectifier capped at 6 (MobileNet v2's choice; v1 uses plain ReLU).
public final class ReLU6: ReLU {
    /// Creates min(max(x, 0), 6).
    public init() { super.init(validatedCap: 6) }
}

extension Float {
    var formatted: String { self == rounded() ? String(Int(self)) : String(self) }
}
