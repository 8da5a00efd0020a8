import ConvEngine
import ConvModels
import Testing

@Suite struct ModelTests {
    @Test func seedNetIsTheSeedDocumentsNetwork() throws {
        let kinds = try ModelConfiguration(family: .seed).layers().map(\.layer.kind)
        #expect(
            kinds == [
                "conv", "relu", "maxpool",
                "dw", "relu", "pw", "relu", "dw", "relu", "pw", "relu", "maxpool",
                "dw", "relu", "pw", "relu", "dw", "relu", "pw", "relu", "maxpool", "flatten", "fc",
            ])
        let baseline = try ModelConfiguration(family: .seed, standard: true).layers().map(\.layer.kind)
        #expect(
            baseline == [
                "conv", "relu", "maxpool", "conv", "relu", "conv", "relu", "maxpool",
                "conv", "relu", "conv", "relu", "maxpool", "flatten", "fc",
            ])
    }

    @Test func seedNetInitialisationIsGlorotWithNineTapFansAndZeroBiases() throws {
        let network = try ModelConfiguration(family: .seed).makeNetwork(maxBatchSize: 1, seed: 3)
        for (name, p) in network.namedParameters {
            let values = Array(p.value.buffer)
            if p.isWeight {
                let bound = Float((6 / Double(p.fanIn! + p.fanOut!)).squareRoot())
                #expect(values.allSatisfy { abs($0) <= bound } && values.contains { $0 != 0 }, "\(name)")
                if p.layout == .depthwiseHWC { #expect(p.fanIn == 9 && p.fanOut == 9) }
            } else {
                #expect(values.allSatisfy { $0 == 0 }, "\(name) bias is not zero")
            }
        }
    }

    @Test func mobileNetCIFARShrinksThirtyTwoToTwo() throws {
        let config = try ModelConfiguration(family: .mobilenet, widthMultiplier: 0.5, stem: .cifar)
        let network = try Sequential(config.layers(), itemShape: config.itemShape, maxBatchSize: 1)
        let sides = network.shapes.filter { $0.rank == 4 }.map(\.height)
        #expect(sides.first == 32 && sides.last == 2)
        #expect(network.shapes.last?.dimensions == [1, 10])
        #expect(network.entries.filter { $0.layer is DepthwiseConv2D }.count == 13)
        #expect(throws: EngineError.self) { try ModelConfiguration(family: .mobilenet, widthMultiplier: 0) }
        #expect(throws: EngineError.self) { try ModelConfiguration(family: .mobilenet, resolution: 8, stem: .cifar) }
        #expect(throws: EngineError.self) { try ModelConfiguration(family: .seed, classCount: 1) }
    }

    /// Each halving of the output stride runs the last block still at stride 2 at stride 1: the maps
    /// after it keep twice the side, and nothing else changes (channels, parameters, layer names).
    @Test(arguments: [
        (Stem.cifar, 32, Int?.none, [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1], 2),
        (.cifar, 32, 8, [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1], 4),
        (.cifar, 32, 4, [1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1], 8),
        (.cifar, 32, 1, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 32),
        (.imagenet, 224, 32, [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1], 7),
        (.imagenet, 224, 16, [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1], 14),
        (.imagenet, 128, 2, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 64),
    ])
    func outputStrideRunsTheLastStridedBlocksAtStrideOne(
        _ c: (stem: Stem, side: Int, outputStride: Int?, strides: [Int], lastSide: Int)
    ) throws {
        let config = try ModelConfiguration(
            family: .mobilenet, widthMultiplier: 0.25, resolution: c.side, stem: c.stem, outputStride: c.outputStride)
        let natural = try ModelConfiguration(family: .mobilenet, widthMultiplier: 0.25, resolution: c.side, stem: c.stem)
        let depthwise = try config.specs().compactMap { spec -> Int? in
            if case .depthwise(_, _, let stride, _, _) = spec { return stride }
            return nil
        }
        #expect(depthwise == c.strides)
        #expect(config.outputStride == c.outputStride ?? MobileNetV1.naturalOutputStride(stem: c.stem))
        #expect(try config.plan().last { $0.plan.output.count == 3 }?.plan.output.first == c.lastSide)
        // The baseline's 3×3 convolutions take the same strides.
        let baseline = try config.baseline.specs().compactMap { spec -> Int? in
            if case .conv(_, _, 3, let stride, _, _) = spec { return stride }
            return nil
        }
        #expect(baseline.dropFirst().elementsEqual(c.strides))
        let plan = try config.plan(), naturalPlan = try natural.plan()
        #expect(plan.map(\.name) == naturalPlan.map(\.name))
        #expect(plan.map(\.plan.storedFloats) == naturalPlan.map(\.plan.storedFloats))
        #expect(
            config.displayName.hasSuffix("output-stride-\(config.outputStride ?? 0)")
                == (c.outputStride != nil && config != natural))
    }

    @Test(arguments: [(Stem.cifar, 32), (.cifar, 3), (.cifar, 0), (.cifar, -8), (.imagenet, 64), (.imagenet, 1), (.imagenet, 12)])
    func impossibleOutputStridesAreErrors(_ c: (stem: Stem, outputStride: Int)) {
        #expect(throws: EngineError.self, "\(c)") {
            try ModelConfiguration(family: .mobilenet, stem: c.stem, outputStride: c.outputStride)
        }
    }

    @Test func seedNetHasNoOutputStride() throws {
        #expect(throws: EngineError.self) { try ModelConfiguration(family: .seed, outputStride: 16) }
        #expect(try ModelConfiguration(family: .seed).outputStride == nil)
    }

    /// A PyTorch state_dict of the equivalent nn.Sequential loads into the model name for name, and
    /// the logits agree; the checkpoint the project writes has exactly PyTorch's names, shapes and
    /// dtypes, so `load_state_dict(strict=True)` accepts it.
    @Test(arguments: [
        ("seed", ModelFamily.seed, Float(1), false), ("seed_standard", .seed, 1, true),
        ("mobilenet_0.125_cifar", .mobilenet, 0.125, false),
    ])
    func loadsPyTorchWeightsAndWritesPyTorchNames(_ c: (name: String, family: ModelFamily, alpha: Float, standard: Bool)) throws {
        let config = try ModelConfiguration(family: c.family, widthMultiplier: c.alpha, stem: .cifar, standard: c.standard)
        let network = try config.makeNetwork(maxBatchSize: 3)
        let state = try fixture("model_\(c.name)_state"), io = try fixture("model_\(c.name)_io")
        try Checkpoint.restore(state, into: network)
        let x = try Tensor(nchw: Tensor(shape: Shape(io.floats("x").shape), scalars: io.floats("x").values))
        let logits = try network.predict(x)
        let reference = try io.floats("logits").values
        var num = 0.0, den = 0.0
        for (a, b) in zip(logits.scalars, reference) {
            num += Double((a - b) * (a - b))
            den += Double(b * b)
        }
        #expect((num / den).squareRoot() <= 1e-4)

        let written = try Checkpoint.make(network: network, optimizer: nil)
        #expect(Set(written.entries.keys) == Set(state.entries.keys))
        for (name, entry) in state.entries {
            #expect(written.entries[name]?.shape == entry.shape && written.entries[name]?.dtype == entry.dtype, "\(name)")
        }
        // Same values as PyTorch's (weights reordered back to OIHW exactly).
        #expect(try written.floats("0.weight").values == (try state.floats("0.weight").values))
    }
}
