import ConvEngine
import ConvModels

/// One layer of a model as the ONNX operator it becomes, with its weights in PyTorch's layouts
/// (OIHW convolutions, `[out, in]` classifier) under their checkpoint names.
enum Operator {
    /// `Conv`: weight `[O, I/group, k, k]`, optional bias `[O]`.
    case conv(name: String, weight: [Float], shape: [Int], bias: [Float]?, stride: Int, padding: Int, group: Int)
    /// `BatchNormalization` in inference mode.
    case batchNorm(name: String, scale: [Float], bias: [Float], mean: [Float], variance: [Float], epsilon: Float)
    case relu
    case maxPool(kernel: Int)
    case globalAveragePool
    case flatten
    /// `Gemm` with `transB`: weight `[out, in]`, bias `[out]`.
    case gemm(name: String, weight: [Float], shape: [Int], bias: [Float])

    /// The operator of a planned layer, its weights read from `tensors` (a checkpoint's).
    init(_ layer: ModelConfiguration.PlannedLayer, tensors: SafeTensors, epsilon: Float) throws {
        let name = layer.name
        func values(_ suffix: String) throws -> (shape: [Int], values: [Float]) { try tensors.floats("\(name).\(suffix)") }
        func bias(_ present: Bool) throws -> [Float]? { present ? try values("bias").values : nil }
        switch layer.spec {
        case let .conv(_, _, _, stride, padding, hasBias):
            let w = try values("weight")
            self = .conv(
                name: name, weight: w.values, shape: w.shape, bias: try bias(hasBias), stride: stride, padding: padding, group: 1)
        case let .depthwise(channels, _, stride, padding, hasBias):
            let w = try values("weight")
            self = .conv(
                name: name, weight: w.values, shape: w.shape, bias: try bias(hasBias), stride: stride, padding: padding,
                group: channels)
        case let .pointwise(_, _, hasBias):
            let w = try values("weight")
            self = .conv(name: name, weight: w.values, shape: w.shape, bias: try bias(hasBias), stride: 1, padding: 0, group: 1)
        case .batchNorm:
            self = .batchNorm(
                name: name, scale: try values("weight").values, bias: try values("bias").values,
                mean: try values("running_mean").values, variance: try values("running_var").values, epsilon: epsilon)
        case .relu: self = .relu
        case .maxPool(let kernel): self = .maxPool(kernel: kernel)
        case .globalAvgPool: self = .globalAveragePool
        case .flatten: self = .flatten
        case .linear:
            let w = try values("weight")
            self = .gemm(name: name, weight: w.values, shape: w.shape, bias: try values("bias").values)
        }
    }

    /// `operators` with each batch norm that follows a convolution folded into it:
    /// w' = w·γ/√(σ²+ε) per output channel, b' = (b − μ)·γ/√(σ²+ε) + β, computed in Double.
    static func foldingBatchNorms(_ operators: [Operator]) -> [Operator] {
        var folded: [Operator] = []
        for op in operators {
            guard case let .batchNorm(_, gamma, beta, mean, variance, epsilon) = op,
                case let .conv(name, weight, shape, bias, stride, padding, group)? = folded.last
            else {
                folded.append(op)
                continue
            }
            let outputs = shape[0], perOutput = weight.count / outputs
            var w = weight, b = [Float](repeating: 0, count: outputs)
            for o in 0..<outputs {
                let s = Double(gamma[o]) / (Double(variance[o]) + Double(epsilon)).squareRoot()
                for j in 0..<perOutput { w[o * perOutput + j] = Float(Double(weight[o * perOutput + j]) * s) }
                b[o] = Float((Double(bias?[o] ?? 0) - Double(mean[o])) * s + Double(beta[o]))
            }
            folded[folded.count - 1] = .conv(
                name: name, weight: w, shape: shape, bias: b, stride: stride, padding: padding, group: group)
        }
        return folded
    }

    /// Appends the operator's node(s) after `input`; returns its output's name (`output` if given).
    func emit(into graph: inout ONNXGraph, input: String, output: String?) -> String {
        switch self {
        case let .conv(name, weight, shape, bias, stride, padding, group):
            var inputs = [input, graph.initializer("\(name).weight", shape: shape, weight)]
            if let bias { inputs.append(graph.initializer("\(name).bias", shape: [bias.count], bias)) }
            return graph.node(
                "Conv", inputs,
                attributes: [
                    Attribute.ints("kernel_shape", [shape[2], shape[3]]), Attribute.ints("strides", [stride, stride]),
                    Attribute.ints("pads", [padding, padding, padding, padding]), Attribute.int("group", group),
                ], output: output, name: "\(name)_Conv")
        case let .batchNorm(name, scale, bias, mean, variance, epsilon):
            let c = [scale.count]
            let inputs = [
                input, graph.initializer("\(name).weight", shape: c, scale), graph.initializer("\(name).bias", shape: c, bias),
                graph.initializer("\(name).running_mean", shape: c, mean),
                graph.initializer("\(name).running_var", shape: c, variance),
            ]
            return graph.node(
                "BatchNormalization", inputs, attributes: [Attribute.float("epsilon", epsilon)], output: output,
                name: "\(name)_BatchNormalization")
        case .relu:
            return graph.node("Relu", [input], output: output)
        case .maxPool(let kernel):
            return graph.node(
                "MaxPool", [input],
                attributes: [Attribute.ints("kernel_shape", [kernel, kernel]), Attribute.ints("strides", [kernel, kernel])],
                output: output)
        case .globalAveragePool:
            return graph.node("GlobalAveragePool", [input], output: output)
        case .flatten:
            return graph.node("Flatten", [input], attributes: [Attribute.int("axis", 1)], output: output)
        case let .gemm(name, weight, shape, bias):
            let inputs = [
                input, graph.initializer("\(name).weight", shape: shape, weight),
                graph.initializer("\(name).bias", shape: [bias.count], bias),
            ]
            return graph.node("Gemm", inputs, attributes: [Attribute.int("transB", 1)], output: output, name: "\(name)_Gemm")
        }
    }
}
