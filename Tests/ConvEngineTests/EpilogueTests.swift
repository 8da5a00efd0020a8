import Testing

@testable import ConvEngine

/// A layer with a bias (or a batch norm) followed in place by a ReLU or ReLU6 applies the rectifier
/// in its own passes (`Epilogue`): outputs and gradients equal those of the two layers run one after the other, on
/// inputs large enough to be split over threads. A leading 1×1 depthwise layer of ones passes x
/// through, and its weight gradient Σ x·dx per channel checks the layer's input gradient.
@Suite struct EpilogueTests {
    enum Kind: String, CaseIterable, Sendable {
        case directConv, directConv32, winogradConv, columnConv, pointwise, directPointwise, depthwiseStride1, depthwiseStride2,
            linear, batchNorm
    }

    /// The layer under test, with random weights and bias, and the shape of one item it takes.
    static func layer(_ kind: Kind) throws -> (Layer, item: [Int]) {
        let layer: Layer, item: [Int]
        switch kind {
        case .directConv:  // 40 outputs: a block of 32 in registers and a remainder of 8.
            (layer, item) = (try Conv2D(inputChannels: 3, outputChannels: 40, kernelSize: 3, padding: 1), [24, 24, 3])
        case .directConv32:  // 32 channels at stride 1: the direct kernels, dx through the flipped filters.
            (layer, item) = (try Conv2D(inputChannels: 32, outputChannels: 32, kernelSize: 3, padding: 1), [12, 12, 32])
        case .winogradConv:  // 3×3 over 64 channels at stride 1.
            (layer, item) = (try Conv2D(inputChannels: 64, outputChannels: 32, kernelSize: 3, padding: 1), [8, 8, 64])
        case .columnConv:
            (layer, item) = (try Conv2D(inputChannels: 8, outputChannels: 16, kernelSize: 3, stride: 2, padding: 1), [24, 24, 8])
        case .pointwise:
            (layer, item) = (try PointwiseConv2D(inputChannels: 16, outputChannels: 24, bias: true), [32, 32, 16])
        case .directPointwise:  // 32 input channels: the direct kernels as a 1×1 window.
            (layer, item) = (try PointwiseConv2D(inputChannels: 32, outputChannels: 40, bias: true), [16, 16, 32])
        case .depthwiseStride1:
            (layer, item) = (try DepthwiseConv2D(channels: 32, stride: 1, bias: true), [24, 24, 32])
        case .depthwiseStride2:
            (layer, item) = (try DepthwiseConv2D(channels: 32, stride: 2, bias: true), [24, 24, 32])
        case .linear:
            (layer, item) = (try Linear(inputFeatures: 64, outputFeatures: 48), [1, 1, 64])
        case .batchNorm:  // Batch statistics; backward recomputes the rectifier's mask from x.
            (layer, item) = (try BatchNorm(channels: 24), [16, 16, 24])
        }
        for (i, p) in layer.parameters.enumerated() { randomize(p, seed: 60 + UInt64(i)) }
        // Normalized outputs stay within a few units: a wide γ makes ReLU6's cap bite too.
        if let norm = layer as? BatchNorm { for c in 0..<norm.channels { norm.weight.value.data[c] *= 16 } }
        return (layer, item)
    }

    @Test(arguments: Kind.allCases, [false, true])
    func aLayerWithABiasAppliesTheFollowingRectifier(_ kind: Kind, capped: Bool) throws {
        let batch = 4
        let (layer, item) = try Self.layer(kind)
        let channels = item[2]
        let pass = try DepthwiseConv2D(channels: channels, kernelSize: 1, padding: 0)
        pass.weight.value.data.update(repeating: 1, count: channels)
        let relu = capped ? ReLU6() : ReLU()
        var entries: [Sequential.Entry] = [.init("0", pass)]
        if kind == .linear { entries.append(.init("1", Flatten())) }
        entries += [.init("\(entries.count)", layer), .init("\(entries.count + 1)", relu)]
        let network = try Sequential(entries, itemShape: try Shape(item), maxBatchSize: batch)
        #expect(network.isFusedIntoPrevious(entries.count - 1))

        // Scaled so that ReLU6's cap is reached as well as zero.
        let x = Tensor.random([batch] + item, seed: 43, scale: 8)
        try network.input.copy(from: x)
        network.train()
        try network.forward()
        let dy = Tensor.random(network.output.shape.dimensions, seed: 44)
        try network.outputGradient.copy(from: dy)
        network.zeroGradients()
        try network.backward()

        // The same layers, fresh, one after the other.
        let (plain, _) = try Self.layer(kind)
        let plainPass = try DepthwiseConv2D(channels: channels, kernelSize: 1, padding: 0)
        plainPass.weight.value.data.update(repeating: 1, count: channels)
        let plainReLU = capped ? ReLU6() : ReLU()
        let context = ExecutionContext(isTraining: true)
        #expect(try plainPass.forward(x, context: context).scalars == x.scalars)
        let input = kind == .linear ? try Tensor(shape: try Shape([batch, channels]), scalars: x.scalars) : x
        let z = try plain.forward(input, context: context), y = try plainReLU.forward(z, context: context)
        let dz = try plainReLU.backward(dy, input: z, output: y, context: context)
        var dx = try plain.backward(dz, input: input, output: z, context: context)
        if kind == .linear { dx = try Tensor(shape: try Shape([batch] + item), scalars: dx.scalars) }
        _ = try plainPass.backward(dx, input: x, output: x, context: context)

        #expect(Array(network.output.buffer) == y.scalars)
        #expect(y.scalars.contains(0) && (!capped || y.scalars.contains(6)))
        let pairs = zip(layer.parameters + [pass.weight], plain.parameters + [plainPass.weight])
        for (fused, unfused) in pairs {
            #expect(relativeError(Array(fused.gradient.buffer), Array(unfused.gradient.buffer)) <= 1e-6, "\(fused.name)")
        }
    }

    /// Without a network the layers stand alone: nothing is absorbed, and a layer only absorbs a
    /// rectifier (not, say, a pooling layer).
    @Test func onlyARectifierIsAbsorbed() throws {
        let conv = try Conv2D(inputChannels: 3, outputChannels: 8, kernelSize: 3)
        #expect(conv.fusedRectifier == nil)
        #expect(!conv.absorb(try MaxPool2D(kernelSize: 2)))
        #expect(conv.fusedRectifier == nil)
        let relu = ReLU()
        #expect(conv.absorb(relu) && conv.fusedRectifier === relu)
    }
}
