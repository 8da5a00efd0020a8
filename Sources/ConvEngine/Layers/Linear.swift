/// A fully connected layer `y = x · Wᵀ + b` over `[N, inputFeatures]`, with `W [out, in]` as in PyTorch.
public final class Linear: Layer {
    public let kind = "fc"
    /// Input features.
    public let inputFeatures: Int
    /// Output features.
    public let outputFeatures: Int
    /// The weights `[out, in]`.
    public let weight: Parameter
    /// The bias, if any.
    public let bias: Parameter?
    /// The rectifier this layer absorbed and applies itself, if any.
    public var fusedRectifier: ReLU? { epilogue.rectifier }

    private let epilogue: Epilogue
    public private(set) var inputShape: Shape?
    public private(set) var outputShape: Shape?

    /// Creates a linear layer with zero-filled weights.
    ///
    /// - Parameters:
    ///   - inputFeatures: input features.
    ///   - outputFeatures: output features.
    ///   - bias: whether to add a bias.
    ///   - flattenedFrom: the `(height, width, channels)` of an NHWC map flattened into the input, so
    ///     that checkpoints reorder the weight's columns to PyTorch's NCHW flatten.
    /// - Throws: `EngineError.invalidArgument` for non-positive sizes or a flatten shape that does not
    ///   multiply to `inputFeatures`.
    public init(
        inputFeatures: Int, outputFeatures: Int, bias: Bool = true,
        flattenedFrom: (height: Int, width: Int, channels: Int)? = nil
    ) throws {
        try requirePositive(inputFeatures, "linear input features")
        try requirePositive(outputFeatures, "linear output features")
        var layout = ParameterLayout.identical
        if let f = flattenedFrom {
            try require(
                f.height * f.width * f.channels == inputFeatures,
                "linear: flattened shape \(f) does not make \(inputFeatures) features")
            if f.height * f.width > 1 {
                layout = .linearAfterNHWCFlatten(height: f.height, width: f.width, channels: f.channels)
            }
        }
        self.inputFeatures = inputFeatures
        self.outputFeatures = outputFeatures
        weight = try Parameter(
            name: "weight", shape: try Shape([outputFeatures, inputFeatures]),
            layout: layout, isWeight: true, fanIn: inputFeatures, fanOut: outputFeatures)
        self.bias = bias ? try Parameter(name: "bias", shape: try Shape([outputFeatures])) : nil
        epilogue = Epilogue(bias: self.bias, channels: outputFeatures)
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    /// Takes over a following ReLU or ReLU6: bias and rectifier run in one pass after the GEMM.
    public func absorb(_ next: Layer) -> Bool { epilogue.absorb(next) }

    public func prepare(for input: Shape) throws -> Shape {
        guard input.rank == 2, input.channels == inputFeatures else {
            throw EngineError.shapeMismatch("linear expects input [N, \(inputFeatures)], got \(input)")
        }
        inputShape = input
        let output = try Shape([input.batch, outputFeatures])
        outputShape = output
        return output
    }

    public var multiplyAccumulates: Int { (inputShape?.batch ?? 0) * inputFeatures * outputFeatures }

    public func forward(_ x: TensorView, into y: TensorView, context: ExecutionContext) throws {
        try checkShapes(x, y)
        let n = x.shape.batch
        BLAS.gemm(transposeB: true, m: n, n: outputFeatures, k: inputFeatures, a: x.data, b: weight.value.data, c: y.data)
        epilogue.apply(rows: n, channels: outputFeatures, y)
    }

    public func backward(
        _ dy: TensorView, input x: TensorView, output y: TensorView, into dx: TensorView?,
        context: ExecutionContext
    ) throws {
        try checkShapes(x, y, dy: dy, dx: dx)
        let n = x.shape.batch
        epilogue.backward(dy, output: y, rows: n, channels: outputFeatures)
        BLAS.gemm(
            transposeA: true, m: outputFeatures, n: inputFeatures, k: n,
            a: dy.data, b: x.data, beta: 1, c: weight.gradient.data)
        if let dx {
            BLAS.gemm(m: n, n: inputFeatures, k: outputFeatures, a: dy.data, b: weight.value.data, c: dx.data)
        }
    }
}
