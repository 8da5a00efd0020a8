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
