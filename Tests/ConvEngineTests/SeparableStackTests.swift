import ConvEngine
import Testing

/// The two-block separable stack of the PyTorch fixture, driven layer by layer: forward, loss,
/// backward in reverse, compared with PyTorch's logits, loss, input gradient, every parameter
/// gradient and the updated running statistics.
@Suite struct SeparableStackTests {
    @Test func matchesPyTorch() throws {
        // Index i is the nn.Sequential index, so parameter names match the fixture's.
        let layers: [(Int, Layer)] = [
            (0, try Conv2D(inputChannels: 3, outputChannels: 8, kernelSize: 3, padding: 1, bias: false)),
            (1, try BatchNorm(channels: 8)), (2, ReLU()),
            (3, try DepthwiseConv2D(channels: 8, stride: 1)), (4, try BatchNorm(channels: 8)), (5, ReLU()),
            (6, try PointwiseConv2D(inputChannels: 8, outputChannels: 16)), (7, try BatchNorm(channels: 16)), (8, ReLU()),
            (9, try DepthwiseConv2D(channels: 16, stride: 2)), (10, try BatchNorm(channels: 16)), (11, ReLU()),
            (12, try PointwiseConv2D(inputChannels: 16, outputChannels: 24)), (13, try BatchNorm(channels: 24)), (14, ReLU()),
            (15, GlobalAvgPool()), (17, try Linear(inputFeatures: 24, outputFeatures: 10)),
        ]
        let f = try Fixtures.load("separable_stack")
        for (index, layer) in layers { for p in layer.parameters { try f.load("param.\(index).\(p.name)", into: p) } }
        let context = ExecutionContext(isTraining: true)
        var activations = [try f.nhwc("x")]
        for (_, layer) in layers { activations.append(try layer.forward(activations.last!, context: context)) }
        let logits = activations.last!
        #expect(relativeError(logits.scalars, try f.floats("logits").values) <= 1e-4)

        let labels = try f.int64s("labels").values.map { Int32($0) }
        var z = logits, dz = Tensor(shape: logits.shape)
        let loss = try z.scalars.withUnsafeMutableBufferPointer { zp in
            try dz.scalars.withUnsafeMutableBufferPointer { gp in
                try labels.withUnsafeBufferPointer {
                    try SoftmaxCrossEntropy().evaluate(
                        logits: TensorView(shape: logits.shape, data: zp.baseAddress!), labels: $0,
                        gradient: TensorView(shape: logits.shape, data: gp.baseAddress!))
                }
            }
        }.loss
        #expect(relativeError([loss], try f.floats("loss").values) <= 1e-5)

        var gradient = dz
        for (i, (_, layer)) in layers.enumerated().reversed() {
            gradient = try layer.backward(gradient, input: activations[i], output: activations[i + 1], context: context)
        }
        #expect(relativeError(try gradient.toNCHW().scalars, try f.floats("dx").values) <= 1e-4)
        let named = layers.flatMap { index, layer in layer.parameters.map { ("\(index).\($0.name)", $0) } }
        checkStackParameters(named, against: f)
        for (index, layer) in layers {
            if let bn = layer as? BatchNorm {
                #expect(Int64(bn.batchesTracked) == (try f.int64s("after.\(index).num_batches_tracked").values.first))
            }
        }
    }
}
