import ConvEngine

/// One row of a model as a value: the layer's kind and hyper-parameters, before anything is
/// allocated.
///
/// A model is planned from these first (`ModelConfiguration.plan()`): every shape, parameter count,
/// MAC count and the memory a network would need follow from them with overflow-checked arithmetic,
/// so that costs are counted and impossible sizes refused without building anything; `makeLayer()`
/// then builds the engine's layer. The tests check that a built network's shapes and MACs agree.
public enum LayerSpec: Equatable, Sendable {
    /// A standard k×k convolution.
    case conv(inputs: Int, outputs: Int, kernel: Int, stride: Int, padding: Int, bias: Bool)
    /// A depthwise k×k convolution, one filter per channel.
    case depthwise(channels: Int, kernel: Int, stride: Int, padding: Int, bias: Bool)
    /// A pointwise (1×1) convolution.
    case pointwise(inputs: Int, outputs: Int, bias: Bool)
    /// Batch normalisation over channels.
    case batchNorm(channels: Int)
    /// A rectifier.
    case relu
    /// Max pooling over k×k windows at stride k.
    case maxPool(kernel: Int)
    /// Global average pooling to one value per channel.
    case globalAvgPool
    /// NHWC to `[N, features]`.
    case flatten
    /// A fully connected layer; `flattenedFrom` is the (H, W, C) of an NHWC flatten before it.
    case linear(inputs: Int, outputs: Int, flattenedFromHeight: Int?, width: Int?, channels: Int?)

    /// The engine's name for the kind ("conv", "dw", "pw", "bn", "relu", "maxpool", "gap",
    /// "flatten", "fc"), as `Layer.kind`.
    public var kind: String {
        switch self {
        case .conv: return "conv"
        case .depthwise: return "dw"
        case .pointwise: return "pw"
        case .batchNorm: return "bn"
        case .relu: return "relu"
        case .maxPool: return "maxpool"
        case .globalAvgPool: return "gap"
        case .flatten: return "flatten"
        case .linear: return "fc"
        }
    }

    /// Whether the layer's output may share its input's memory in a network (as `Layer.canRunInPlace`).
    var runsInPlace: Bool {
        switch self {
        case .relu, .flatten: return true
        default: return false
        }
    }

    /// What one layer costs and yields for one input item.
    public struct Plan: Equatable, Sendable {
        /// The output shape of one item (NHWC without the batch, or `[features]`).
        public var output: [Int]
        /// Parameters as the paper counts them: weights and biases of convolutions and fully
        /// connected layers (batch norm's are not counted).
        public var parameters: Int
        /// Floats of every parameter and buffer the layer stores (batch norm's four vectors too).
        public var storedFloats: Int
        /// Multiply-accumulates of one forward pass for one item.
        public var multiplyAccumulates: Int
    }

    /// Plans the layer for an input item of shape `input`.
    ///
    /// - Throws: `EngineError` when the input does not fit the layer, or a count does not fit in
    ///   an `Int`.
    public func plan(input: [Int]) throws -> Plan {
        func tooLarge() -> EngineError { .invalidArgument("\(kind) layer over input \(input) is too large to count") }
        func product(_ factors: Int...) throws -> Int { try Checked.product(factors, orThrow: tooLarge()) }
        func window(_ channels: Int, _ kernel: Int, _ stride: Int, _ padding: Int) throws -> WindowGeometry {
            let g = try WindowGeometry(input: Shape([1] + input), kernel: kernel, stride: stride, padding: padding, role: kind)
            guard g.channels == channels else {
                throw EngineError.shapeMismatch("\(kind) expects \(channels) input channels, got input \(input)")
            }
            return g
        }
        switch self {
        case let .conv(inputs, outputs, kernel, stride, padding, bias):
            let g = try window(inputs, kernel, stride, padding)
            let weights = try product(outputs, kernel, kernel, inputs)
            let parameters = try Checked.sum(weights, bias ? outputs : 0, orThrow: tooLarge())
            return Plan(
                output: [g.outputHeight, g.outputWidth, outputs], parameters: parameters, storedFloats: parameters,
                multiplyAccumulates: try product(g.outputHeight, g.outputWidth, weights))
        case let .depthwise(channels, kernel, stride, padding, bias):
            let g = try window(channels, kernel, stride, padding)
            let weights = try product(kernel, kernel, channels)
            let parameters = try Checked.sum(weights, bias ? channels : 0, orThrow: tooLarge())
            return Plan(
                output: [g.outputHeight, g.outputWidth, channels], parameters: parameters, storedFloats: parameters,
                multiplyAccumulates: try product(g.outputHeight, g.outputWidth, weights))
        case let .pointwise(inputs, outputs, bias):
            let g = try window(inputs, 1, 1, 0)
            let weights = try product(outputs, inputs)
            let parameters = try Checked.sum(weights, bias ? outputs : 0, orThrow: tooLarge())
            return Plan(
                output: [g.height, g.width, outputs], parameters: parameters, storedFloats: parameters,
                multiplyAccumulates: try product(g.height, g.width, weights))
        case let .batchNorm(channels):
            guard input.last == channels else {
                throw EngineError.shapeMismatch("bn expects \(channels) channels, got input \(input)")
            }
            return Plan(output: input, parameters: 0, storedFloats: try product(4, channels), multiplyAccumulates: 0)
        case .relu:
            return Plan(output: input, parameters: 0, storedFloats: 0, multiplyAccumulates: 0)
        case let .maxPool(kernel):
            let g = try window(input.last ?? 0, kernel, kernel, 0)
            return Plan(
                output: [g.outputHeight, g.outputWidth, g.channels], parameters: 0, storedFloats: 0, multiplyAccumulates: 0)
        case .globalAvgPool:
            try Shape([1] + input).requireRank(4, "gap input")
            return Plan(output: [input[2]], parameters: 0, storedFloats: 0, multiplyAccumulates: 0)
        case .flatten:
            return Plan(
                output: [try Checked.product(input, orThrow: tooLarge())], parameters: 0, storedFloats: 0,
                multiplyAccumulates: 0)
        case let .linear(inputs, outputs, _, _, _):
            guard input == [inputs] else {
                throw EngineError.shapeMismatch("fc expects \(inputs) input features, got input \(input)")
            }
            let weights = try product(outputs, inputs)
            let parameters = try Checked.sum(weights, outputs, orThrow: tooLarge())
            return Plan(output: [outputs], parameters: parameters, storedFloats: parameters, multiplyAccumulates: weights)
        }
    }

    /// Builds the engine's layer (allocating its parameters).
    ///
    /// - Parameter algorithm: how its convolutions run (`auto`: chosen per shape).
    public func makeLayer(algorithm: ConvolutionAlgorithm = .auto) throws -> Layer {
        switch self {
        case let .conv(inputs, outputs, kernel, stride, padding, bias):
            return try Conv2D(
                inputChannels: inputs, outputChannels: outputs, kernelSize: kernel, stride: stride,
                padding: padding, bias: bias, algorithm: algorithm)
        case let .depthwise(channels, kernel, stride, padding, bias):
            return try DepthwiseConv2D(channels: channels, kernelSize: kernel, stride: stride, padding: padding, bias: bias)
        case let .pointwise(inputs, outputs, bias):
            return try PointwiseConv2D(inputChannels: inputs, outputChannels: outputs, bias: bias, algorithm: algorithm)
        case let .batchNorm(channels):
            return try BatchNorm(channels: channels)
        case .relu:
            return ReLU()
        case let .maxPool(kernel):
            return try MaxPool2D(kernelSize: kernel)
        case .globalAvgPool:
            return GlobalAvgPool()
        case .flatten:
            return Flatten()
        case let .linear(inputs, outputs, height, width, channels):
            let flattened = height.flatMap { h in width.flatMap { w in channels.map { (h, w, $0) } } }
            return try Linear(inputFeatures: inputs, outputFeatures: outputs, flattenedFrom: flattened)
        }
    }
}
