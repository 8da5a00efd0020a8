import ConvEngine
import ConvModels
import Foundation
import Testing
import Training

/// A committed fixture from Tests/Fixtures.
func fixture(_ name: String) throws -> SafeTensors {
    try SafeTensors(
        contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/\(name).safetensors"))
}

@Suite struct CheckpointImportTests {
    /// PyTorch's state_dicts (Tests/Fixtures, made by make_fixtures.py) become checkpoints whose
    /// network gives PyTorch's logits, and whose record names the model and the classes.
    @Test(arguments: [
        ("seed", try! ModelConfiguration(family: .seed)),
        ("seed_standard", try! ModelConfiguration(family: .seed, standard: true)),
        ("mobilenet_0.125_cifar", try! ModelConfiguration(family: .mobilenet, widthMultiplier: 0.125)),
    ])
    func aPyTorchStateDictBecomesACheckpointWithItsLogits(_ c: (name: String, model: ModelConfiguration)) throws {
        let checkpoint = try CheckpointImport.checkpoint(
            stateDict: try fixture("model_\(c.name)_state"), model: c.model, classNames: nil, source: "state.safetensors")
        let record = try CheckpointRecord(metadata: checkpoint.metadata)
        #expect(record.model == c.model && record.holdsWeightsOnly)
        #expect(record.data?.classNames.first == "class 0" && record.data?.kind == .cifar10)
        let network = try c.model.makeNetwork(maxBatchSize: 3)
        try Checkpoint.restore(checkpoint, into: network)
        let io = try fixture("model_\(c.name)_io")
        let x = try Tensor(nchw: Tensor(shape: Shape(io.floats("x").shape), scalars: io.floats("x").values))
        let got = try network.predict(x).scalars, expected = try io.floats("logits").values
        #expect(zip(got, expected).map { abs($0 - $1) }.max()! <= 1e-5 * expected.map(abs).max()!)
    }

    @Test func mismatchedTensorsAreErrorsNamingThem() throws {
        let model = try ModelConfiguration(family: .seed)
        let state = try fixture("model_seed_state")
        func message(_ file: SafeTensors, _ model: ModelConfiguration = try! ModelConfiguration(family: .seed)) -> String {
            do {
                _ = try CheckpointImport.checkpoint(stateDict: file, model: model, source: "state.safetensors")
                return "no error"
            } catch { return "\(error)" }
        }
        var missing = state
        missing.entries["12.weight"] = nil
        #expect(message(missing).contains("state.safetensors: missing tensor \"12.weight\""))
        var extra = state
        extra.entries["23.weight"] = state.entries["22.bias"]
        #expect(message(extra).contains("unexpected tensor \"23.weight\""))
        var double = state
        try double.setFloats("0.bias", shape: [32], [Float](repeating: 0, count: 32))
        double.entries["0.bias"]?.dtype = .i32
        #expect(message(double).contains("\"0.bias\" is I32, expected F32"))
        #expect(message(state, try ModelConfiguration(family: .seed, standard: true)).contains("has shape"))
        #expect(
            message(state, try ModelConfiguration(family: .seed, classCount: 5)).contains("\"22.weight\" has shape [10, 512]"))
        #expect(throws: EngineError.self) {
            try CheckpointImport.checkpoint(stateDict: state, model: model, classNames: ["a", "b"], source: "s")
        }
        // A model saved from DataParallel: every name starts with "module.".
        var wrapped = state
        wrapped.entries = Dictionary(uniqueKeysWithValues: state.entries.map { ("module." + $0.key, $0.value) })
        #expect(message(wrapped) == "no error")
    }
}
