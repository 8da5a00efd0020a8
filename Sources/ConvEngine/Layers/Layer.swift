/// Per-call settings shared by every layer of a pass: the mode, the shared workspace, the generator
/// that stochastic layers draw from.
public final class ExecutionContext {
    /// Training (batch statistics, dropout active) or evaluation.
    public var isTraining: Bool
    /// Scratch memory shared by all layers, sized by the largest need.
    public let workspace: Workspace
    /// The generator dropout draws masks from; saved with a checkpoint so a resumed run draws the same.
    public var generator: RandomGenerator

    /// Creates a context.
    public init(isTraining: Bool = true, workspace: Workspace = Workspace(), generator: RandomGenerator = .init(seed: 0)) {
        self.isTraining = isTraining
        self.workspace = workspace
        self.generator = generator
    }
}

/// A differentiable stage of a network: forward and backward over preallocated NHWC views.
///
/// Life cycle: `prepare(for:)` validates the input shape and sizes the layer's own state once; then
/// `forward` and `backward` run any number of times for that shape without allocating. Parameter
/// gradients accumulate; the optimizer zeroes them.
public protocol Layer: AnyObject {
    /// A short name of the layer kind for tables ("conv", "dw", "pw", "bn", …).
    var kind: String { get }
    /// The parameters and buffers, in PyTorch's `state_dict` order for the equivalent module.
    var parameters: [Parameter] { get }
    /// Validates `input` and prepares per-shape state.
    ///
    /// - Returns: the output shape.
    /// - Throws: `EngineError` when the shape does not fit the layer.
    func prepare(for input: Shape) throws -> Shape
    /// The input shape of the last `prepare`, if any.
    var inputShape: Shape? { get }
    /// The output shape of the last `prepare`, if any.
    var outputShape: Shape? { get }
    /// Floats of shared workspace that one pass needs, for the prepared shape.
    var workspaceCount: Int { get }
    /// Multiply-accumulates of one forward pass for the prepared shape, as the MobileNet paper counts
    /// them (convolutions and fully connected layers only).
    var multiplyAccumulates: Int { get }
    /// Integer buffers saved beside the parameters (PyTorch's `num_batches_tracked`), by name.
    var counters: [String: Int] { get }
    /// Restores an integer buffer by name.
    ///
    /// - Throws: `EngineError.invalidArgument` for a name the layer does not have.
    func setCounter(_ name: String, to value: Int) throws
    /// Whether `forward` and `backward` stay correct when `y` is `x` and `dx` is `dy` (same memory).
    var canRunInPlace: Bool { get }
    /// Whether `backward` reads the forward output `y` (then no later layer may overwrite it).
    var backwardReadsOutput: Bool { get }
    /// Takes over the work of `next`, the layer that follows and runs in place on this layer's output,
    /// if this layer can do it in its own passes over memory; returns whether it did (then `next` is
    /// not run). Called once by `Sequential` when it plans the network.
    func absorb(_ next: Layer) -> Bool
    /// Computes `y` from `x`; `x.shape` must be the prepared shape.
    func forward(_ x: TensorView, into y: TensorView, context: ExecutionContext) throws
    /// Accumulates parameter gradients and, unless `dx` is nil, writes the input gradient.
    ///
    /// - Parameters:
    ///   - dy: gradient of the loss with respect to the output.
    ///   - x: the input of the matching forward call.
    ///   - y: the output of the matching forward call.
    ///   - dx: where the input gradient goes; nil when no one needs it (the first layer).
    ///   - context: the same context as the forward call.
    func backward(
        _ dy: TensorView, input x: TensorView, output y: TensorView, into dx: TensorView?,
        context: ExecutionContext) throws
}

extension Layer {
    public var workspaceCount: Int { 0 }
    public var multiplyAccumulates: Int { 0 }
    public var parameters: [Parameter] { [] }
    public var counters: [String: Int] { [:] }
    public func setCounter(_ name: String, to value: Int) throws {
        throw EngineError.invalidArgument("\(kind) has no counter named \(name)")
    }
    public var canRunInPlace: Bool { false }
    public var backwardReadsOutput: Bool { false }
    public func absorb(_ next: Layer) -> Bool { false }

    /// Throws unless the views have the prepared shapes: `x` and `dx` the input's, `y` and `dy` the
    /// output's. Called first by every `forward` and `backward`, so a wrong view is an error, never an
    /// out-of-bounds access.
    func checkShapes(_ x: TensorView, _ y: TensorView, dy: TensorView? = nil, dx: TensorView? = nil) throws {
        guard let preparedInput = inputShape, let preparedOutput = outputShape else {
            throw EngineError.invalidArgument("\(kind): call prepare(for:) before forward or backward")
        }
        func check(_ view: TensorView?, _ expected: Shape, _ role: String) throws {
            if let view, view.shape != expected {
                throw EngineError.shapeMismatch("\(kind) was prepared for \(role) \(expected), got \(view.shape)")
            }
        }
        // Four plain calls, not a loop over an array literal: this runs in every step and must not allocate.
        try check(x, preparedInput, "input")
        try check(y, preparedOutput, "output")
        try check(dy, preparedOutput, "output gradient")
        try check(dx, preparedInput, "input gradient")
    }

    /// Runs one forward pass on owned tensors, preparing the layer and a workspace for `x`'s shape.
    ///
    /// A convenience for tests and for callers outside a network; it allocates.
    public func forward(_ x: Tensor, context: ExecutionContext = ExecutionContext()) throws -> Tensor {
        let outShape = try prepare(for: x.shape)
        context.workspace.reserve(workspaceCount)
        var input = x
        var output = Tensor(shape: outShape)
        try input.scalars.withUnsafeMutableBufferPointer { xp in
            try output.scalars.withUnsafeMutableBufferPointer { yp in
                try forward(
                    TensorView(shape: x.shape, data: xp.baseAddress!),
                    into: TensorView(shape: outShape, data: yp.baseAddress!), context: context)
            }
        }
        return output
    }

    /// Runs one backward pass on owned tensors after `forward(_:context:)` produced `y` from `x`.
    ///
    /// - Returns: the input gradient; parameter gradients accumulate in `parameters`.
    public func backward(
        _ dy: Tensor, input x: Tensor, output y: Tensor,
        context: ExecutionContext = ExecutionContext()
    ) throws -> Tensor {
        context.workspace.reserve(workspaceCount)
        var (dyc, xc, yc) = (dy, x, y)
        var dx = Tensor(shape: x.shape)
        try dyc.scalars.withUnsafeMutableBufferPointer { dyp in
            try xc.scalars.withUnsafeMutableBufferPointer { xp in
                try yc.scalars.withUnsafeMutableBufferPointer { yp in
                    try dx.scalars.withUnsafeMutableBufferPointer { dxp in
                        try backward(
                            TensorView(shape: dy.shape, data: dyp.baseAddress!),
                            input: TensorView(shape: x.shape, data: xp.baseAddress!),
                            output: TensorView(shape: y.shape, data: yp.baseAddress!),
                            into: TensorView(shape: x.shape, data: dxp.baseAddress!), context: context)
                    }
                }
            }
        }
        return dx
    }
}

/// Validates a positive channel or feature count.
func requirePositive(_ value: Int, _ what: String) throws {
    try require(value > 0, "\(what) must be positive, got \(value)")
}
