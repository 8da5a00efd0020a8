/// Watches a network's passes layer by layer (a benchmark times them). `Sequential` calls it around
/// every layer it runs when one is given, and does nothing more when none is.
public protocol LayerObserver: AnyObject {
    /// Layer `index` is about to run its forward (`backward` false) or backward pass.
    func layerWillRun(_ index: Int, backward: Bool)
    /// Layer `index` has run that pass.
    func layerDidRun(_ index: Int, backward: Bool)
}

/// A chain of layers planned once for a batch shape: every activation, gradient and scratch buffer is
/// allocated up front, so a training step allocates nothing.
///
/// Memory plan: one arena holds every layer's output, except that layers which may run in place
/// (ReLU, Flatten, Dropout) reuse their input's buffer when the layer before does not read its own
/// output in backward. Gradients need only two buffers the size of the largest activation, used in
/// turn (ping-pong), because a layer's backward reads dy and writes dx and nothing older is needed.
/// All layers share one workspace sized by the largest need.
///
/// Fusion: a layer that runs in place right after another is offered to it (`Layer.absorb(_:)`; batch
/// norm takes a ReLU); an absorbed layer keeps its entry, name and index but is not run. A batch norm
/// right after a depthwise or pointwise convolution (without a rectifier between) runs with it, the
/// same bits as the two layers. In evaluation it is folded into the convolution before it (a standard
/// one too, such as the stem), which writes the batch norm's output (with its rectifier) straight
/// from its rows while they are in cache, so the batch norm's own pass over memory disappears (its
/// input is then not written; a `backward` after such a pass computes it first). In backward, after a depthwise convolution, the batch norm only
/// sums (`BatchNorm.inputGradient`) and the convolution computes the batch norm's input gradient
/// image by image as it reads it, so that gradient is never written to memory and read back.
public final class Sequential {
    /// A layer with the name its parameters carry in checkpoints (PyTorch's `nn.Sequential` index).
    public struct Entry {
        /// The prefix of the layer's parameter names (e.g. "3" for "3.weight").
        public var name: String
        /// The layer.
        public var layer: Layer

        /// Names a layer.
        public init(_ name: String, _ layer: Layer) {
            self.name = name
            self.layer = layer
        }
    }

    /// The layers in order.
    public let entries: [Entry]
    /// The shape of one input item, `[H, W, C]` (or `[features]`).
    public let itemShape: Shape
    /// The largest batch the buffers hold.
    public let maxBatchSize: Int
    /// The batch size the layers are currently prepared for.
    public private(set) var batchSize: Int
    /// Mode, workspace and generator shared by every layer.
    public let context: ExecutionContext

    /// Each layer's input shape at the current batch size; `shapes[i + 1]` is layer i's output.
    public private(set) var shapes: [Shape]
    private let arena: FloatStorage
    private let gradientBuffers: (FloatStorage, FloatStorage)
    private let activationOffsets: [Int]
    /// Layers whose work the layer before them does (a fused ReLU).
    private let isAbsorbed: [Bool]
    /// For each layer, the batch norm folded into it when evaluating, if it is a convolution (without
    /// a rectifier of its own) right before one.
    private let evaluationFolds: [(layer: BatchNormFolding, norm: BatchNorm)?]
    /// For each layer, the batch norm whose input gradient it computes in backward: those of the
    /// folds whose layer is a depthwise convolution.
    private let depthwiseNorms: [(depthwise: DepthwiseConv2D, norm: BatchNorm)?]
    /// Whether the last forward pass folded batch norms, leaving their inputs unwritten.
    private var lastForwardFolded = false
    /// Whether the weights are frozen (`freezeWeights()`, in FrozenWeights.swift).
    var weightsFrozen = false

    /// Plans the network for batches of up to `maxBatchSize` items of shape `itemShape`.
    ///
    /// - Throws: `EngineError` when a layer rejects the shape it would receive, or for an empty
    ///   network or a non-positive batch size.
    public init(_ entries: [Entry], itemShape: Shape, maxBatchSize: Int, seed: UInt64 = 0) throws {
        try require(!entries.isEmpty, "a network needs at least one layer")
        try require(maxBatchSize > 0, "batch size must be positive, got \(maxBatchSize)")
        self.entries = entries
        self.itemShape = itemShape
        self.maxBatchSize = maxBatchSize
        batchSize = maxBatchSize
        context = ExecutionContext(isTraining: true, workspace: Workspace(), generator: RandomGenerator(seed: seed))
        shapes = try Self.prepare(entries, input: try Shape([maxBatchSize] + itemShape.dimensions))
        // Activation i (i = 0 is the network input) gets its own region unless layer i - 1 runs in place.
        var offsets = [0], total = shapes[0].count, largest = shapes[0].count
        for (i, entry) in entries.enumerated() {
            let previousReadsOutput = i > 0 && entries[i - 1].layer.backwardReadsOutput
            if entry.layer.canRunInPlace && !previousReadsOutput && shapes[i + 1].count == shapes[i].count {
                offsets.append(offsets[i])
            } else {
                offsets.append(total)
                total += shapes[i + 1].count
            }
            largest = max(largest, shapes[i + 1].count)
        }
        activationOffsets = offsets
        var absorbed = [Bool](repeating: false, count: entries.count)
        for i in entries.indices.dropLast() {
            guard offsets[i + 1] == offsets[i + 2], entries[i].layer.absorb(entries[i + 1].layer) else { continue }
            absorbed[i + 1] = true
        }
        isAbsorbed = absorbed
        let folds: [(layer: BatchNormFolding, norm: BatchNorm)?] = entries.indices.map { i in
            guard i + 1 < entries.count, !absorbed[i], !absorbed[i + 1],
                let layer = entries[i].layer as? BatchNormFolding, layer.fusedRectifier == nil,
                let norm = entries[i + 1].layer as? BatchNorm
            else { return nil }
            return (layer, norm)
        }
        evaluationFolds = folds
        depthwiseNorms = folds.map { fold in
            fold.flatMap { fold in (fold.layer as? DepthwiseConv2D).map { ($0, fold.norm) } }
        }
        arena = FloatStorage(count: total)
        gradientBuffers = (FloatStorage(count: largest), FloatStorage(count: largest))
        context.workspace.reserve(entries.map(\.layer.workspaceCount).max() ?? 0)
    }

    private static func prepare(_ entries: [Entry], input: Shape) throws -> [Shape] {
        var shapes = [input]
        for entry in entries {
            do { shapes.append(try entry.layer.prepare(for: shapes.last!)) } catch let error as EngineError {
                throw EngineError.shapeMismatch("layer \(entry.name) (\(entry.layer.kind)): \(error)")
            }
        }
        return shapes
    }

    /// Re-prepares the layers for a batch of `size` ≤ `maxBatchSize` items (no allocation).
    ///
    /// - Throws: `EngineError.invalidArgument` for a size outside 1...maxBatchSize.
    public func setBatchSize(_ size: Int) throws {
        guard size != batchSize else { return }
        try require(size > 0 && size <= maxBatchSize, "batch size \(size) is outside 1...\(maxBatchSize)")
        shapes = try Self.prepare(entries, input: try Shape([size] + itemShape.dimensions))
        batchSize = size
    }

    /// Whether layer `i` does no work of its own because the layer before it absorbed it.
    public func isFusedIntoPrevious(_ i: Int) -> Bool { isAbsorbed[i] }

    /// Whether layer `i`'s input gradient is computed by the layer before it, within that layer's
    /// backward pass (a batch norm after a depthwise convolution): its own backward only sums.
    public func inputGradientIsComputedByPrevious(_ i: Int) -> Bool { i > 0 && depthwiseNorms[i - 1] != nil }

    /// Switches to training mode: batch statistics, dropout active. Ends a freeze of the weights
    /// (`freezeWeights()`), since training changes them.
    public func train() {
        context.isTraining = true
        thawWeights()
    }
    /// Switches to evaluation mode: running statistics, dropout off.
    public func eval() { context.isTraining = false }

    /// Every parameter and buffer, with its checkpoint name ("3.weight", "4.running_mean", …).
    public var namedParameters: [(name: String, parameter: Parameter)] {
        entries.flatMap { entry in entry.layer.parameters.map { ("\(entry.name).\($0.name)", $0) } }
    }

    /// The trainable parameters, in order.
    public var trainableParameters: [Parameter] { namedParameters.map(\.parameter).filter(\.isTrainable) }

    /// The view of activation `i` (0 is the input, `entries.count` the output) at the current batch size.
    /// After an evaluation pass the input of a batch norm folded into the convolution before it
    /// is not written (until a `backward`).
    public func activation(_ i: Int) -> TensorView {
        TensorView(shape: shapes[i], data: arena.data + activationOffsets[i])
    }

    /// The input buffer: write a batch here (NHWC) before `forward()`.
    public var input: TensorView { activation(0) }
    /// The output of the last layer (the logits).
    public var output: TensorView { activation(entries.count) }

    // The step's loops index arrays directly: generic iterators (`enumerated()`) box large elements
    // in unoptimised builds, and the training step must allocate nothing in any build.

    /// Runs every layer on the batch in `input`.
    ///
    /// - Parameter observer: told before and after each layer runs (for benchmarks).
    public func forward(observer: LayerObserver? = nil) throws {
        let folding = !context.isTraining
        var skip = -1
        lastForwardFolded = false
        for i in 0..<entries.count where !isAbsorbed[i] && i != skip {
            observer?.layerWillRun(i, backward: false)
            if folding, let fold = evaluationFolds[i] {
                try fold.layer.forward(
                    activation(i), into: activation(i + 2), affine: fold.norm.evaluationAffine(), context: context)
                skip = i + 1
                lastForwardFolded = true
            } else {
                try entries[i].layer.forward(activation(i), into: activation(i + 1), context: context)
            }
            observer?.layerDidRun(i, backward: false)
        }
    }

    /// Backpropagates `outputGradient` (the gradient of the loss with respect to `output`, which must
    /// live in `outputGradientBuffer`) through every layer, accumulating parameter gradients.
    ///
    /// - Parameter observer: told before and after each layer runs (for benchmarks).
    public func backward(observer: LayerObserver? = nil) throws {
        if lastForwardFolded {
            // The folded batch norms' inputs, which their backward reads.
            for (i, fold) in evaluationFolds.enumerated() where fold != nil {
                try entries[i].layer.forward(activation(i), into: activation(i + 1), context: context)
            }
            lastForwardFolded = false
        }
        var dy = TensorView(shape: shapes[entries.count], data: gradientBuffers.0.data)
        var other = gradientBuffers.1.data
        var skip = -1
        for i in stride(from: entries.count - 1, through: 0, by: -1) where !isAbsorbed[i] && i != skip {
            if i > 0, let pair = depthwiseNorms[i - 1] {
                // The batch norm's sums, then the convolution's backward from its input gradient.
                observer?.layerWillRun(i, backward: true)
                let normGradient = try pair.norm.inputGradient(dy, input: activation(i), output: activation(i + 1))
                observer?.layerDidRun(i, backward: true)
                let dx = i == 1 ? nil : TensorView(shape: shapes[i - 1], data: other)
                observer?.layerWillRun(i - 1, backward: true)
                try pair.depthwise.backward(
                    from: normGradient, input: activation(i - 1), output: activation(i), into: dx, context: context)
                observer?.layerDidRun(i - 1, backward: true)
                skip = i - 1
                if let dx {
                    other = dy.data
                    dy = dx
                }
                continue
            }
            let layer = entries[i].layer
            let inPlace = activationOffsets[i] == activationOffsets[i + 1]
            let dxData = inPlace ? dy.data : other
            let dx = i == 0 ? nil : TensorView(shape: shapes[i], data: dxData)
            observer?.layerWillRun(i, backward: true)
            try layer.backward(dy, input: activation(i), output: activation(i + 1), into: dx, context: context)
            observer?.layerDidRun(i, backward: true)
            if let dx {
                if !inPlace { other = dy.data }
                dy = dx
            }
        }
    }

    /// Where the loss writes d(loss)/d(output) before `backward()`.
    public var outputGradient: TensorView { TensorView(shape: shapes[entries.count], data: gradientBuffers.0.data) }

    /// Sets every trainable parameter's gradient to zero.
    public func zeroGradients() {
        for entry in entries { for p in entry.layer.parameters where p.isTrainable { p.zeroGradient() } }
    }

    /// Total floats held by the activation arena and gradient buffers (for memory reports).
    public var bufferFloatCount: Int { arena.count + gradientBuffers.0.count + gradientBuffers.1.count + context.workspace.count }
}
