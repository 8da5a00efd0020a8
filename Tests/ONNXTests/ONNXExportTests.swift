import CIFAR
import ConvEngine
import ConvModels
import Foundation
import Testing
import Training

@testable import ONNX

/// A network of `configuration` after one SGD step, so that batch norm's running statistics are not
/// their initial values.
func trainedNetwork(_ configuration: ModelConfiguration, seed: UInt64 = 1) throws -> Sequential {
    let network = try configuration.makeNetwork(maxBatchSize: 4, seed: seed)
    var g = RandomGenerator(seed: seed)
    for i in 0..<network.input.count { network.input.data[i] = 2 * g.nextUniform() - 1 }
    let optimizer = try SGD(parameters: network.trainableParameters, momentum: 0.9)
    let labels: [Int32] = [0, 1, 2, 3]
    _ = try labels.withUnsafeBufferPointer {
        try network.trainStep(labels: $0, loss: SoftmaxCrossEntropy(), optimizer: optimizer, learningRate: 0.05)
    }
    return network
}

/// The network's logits for a fixed batch of four images.
func logits(_ network: Sequential) throws -> [Float] {
    var g = RandomGenerator(seed: 99)
    let shape = try Shape([4] + network.itemShape.dimensions)
    return try network.predict(try Tensor(shape: shape, scalars: (0..<shape.count).map { _ in g.nextUniform() })).scalars
}

func relativeError(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).map { abs($0 - $1) }.max()! / max(b.map(abs).max()!, 1e-6)
}

func export(_ network: Sequential, _ configuration: ModelConfiguration, fold: Bool) throws -> ONNXExport {
    var options = ONNXExport.Options()
    options.foldBatchNorm = fold
    return try ONNXExport(
        network: network, configuration: configuration, normalization: .cifar10,
        classNames: (0..<configuration.classCount).map { "c\($0)" }, options: options, producerVersion: "test")
}

@Suite struct ONNXExportTests {
    static let models: [ModelConfiguration] = [
        try! ModelConfiguration(family: .seed),
        try! ModelConfiguration(family: .seed, standard: true),
        try! ModelConfiguration(family: .mobilenet, widthMultiplier: 0.25),
        try! ModelConfiguration(family: .mobilenet, widthMultiplier: 0.25, standard: true),
        try! ModelConfiguration(family: .mobilenet, widthMultiplier: 0.25, resolution: 64, classCount: 5, stem: .imagenet),
        try! ModelConfiguration(family: .mobilenet, widthMultiplier: 0.25, stem: .cifar, outputStride: 8),
    ]

    /// Export then import gives back the network: bit for bit with batch norm kept, and to float32
    /// rounding with it folded (the identity batch norm that replaces it).
    @Test(arguments: models)
    func exportThenImportGivesTheSameLogits(_ configuration: ModelConfiguration) throws {
        let network = try trainedNetwork(configuration)
        let expected = try logits(network)
        for fold in [false, true] {
            let data = try export(network, configuration, fold: fold).serializedData()
            let contents = try ONNXImport.read(data, source: "test.onnx")
            #expect(contents.model == configuration)
            #expect(contents.classNames == (0..<configuration.classCount).map { "c\($0)" })
            let checkpoint = try CheckpointImport.checkpoint(
                stateDict: contents.stateDict, model: contents.model, classNames: contents.classNames, source: "test.onnx")
            let imported = try configuration.makeNetwork(maxBatchSize: 4)
            try Checkpoint.restore(checkpoint, into: imported)
            let got = try logits(imported)
            if fold {
                #expect(relativeError(got, expected) < 1e-5)
            } else {
                #expect(got == expected)
            }
        }
    }

    @Test func theGraphIsThePyTorchModuleSInOpset17() throws {
        let configuration = try ModelConfiguration(family: .mobilenet, widthMultiplier: 0.25)
        let network = try trainedNetwork(configuration)
        let kept = try export(network, configuration, fold: false).model()
        let ops = kept.graph.node.map(\.opType)
        #expect(ops.filter { $0 == "Conv" }.count == 27)
        #expect(ops.filter { $0 == "BatchNormalization" }.count == 27)
        #expect(Array(ops.suffix(3)) == ["GlobalAveragePool", "Flatten", "Gemm"])
        #expect(kept.opsetImport.first?.version == 17)
        #expect(kept.graph.input.map(\.name) == ["input"] && kept.graph.output.map(\.name) == ["logits"])
        let dims = kept.graph.input[0].type.tensorType.shape.dim
        #expect(dims[0].dimParam == "N" && dims.dropFirst().map(\.dimValue) == [3, 32, 32])
        let groups = kept.graph.node.filter { $0.opType == "Conv" }.map { node in
            node.attribute.first { $0.name == "group" }?.i ?? 1
        }
        #expect(Array(groups.prefix(4)) == [1, 8, 1, 16])
        let folded = try export(network, configuration, fold: true).model()
        #expect(!folded.graph.node.contains { $0.opType == "BatchNormalization" })
        #expect(folded.graph.initializer.contains { $0.name == "0.bias" })

        var options = ONNXExport.Options()
        options.inputLayout = .nhwc
        options.includeNormalization = true
        let raw = try ONNXExport(
            network: network, configuration: configuration, normalization: .seed,
            classNames: (0..<10).map { "\($0)" }, options: options, producerVersion: "test"
        ).model()
        #expect(Array(raw.graph.node.prefix(3).map(\.opType)) == ["Transpose", "Mul", "Add"])
        #expect(raw.graph.input[0].type.tensorType.shape.dim.dropFirst().map(\.dimValue) == [32, 32, 3])
    }

    @Test func metadataRecordsTheModelItsNormalisationAndItsCost() throws {
        let configuration = try ModelConfiguration(family: .mobilenet, widthMultiplier: 0.5)
        let metadata = try export(try configuration.makeNetwork(maxBatchSize: 1), configuration, fold: true).metadata
        let cost = try configuration.costComparison()
        #expect(metadata["macs"] == String(cost.model.multiplyAccumulates))
        #expect(metadata["baseline_macs"] == String(cost.baseline.multiplyAccumulates))
        #expect(metadata["params"] == String(cost.model.parameters))
        #expect(metadata["batchnorm"] == "folded" && metadata["input_layout"] == "NCHW")
        #expect(metadata["normalization"]?.contains("\"kind\":\"meanstd\"") == true)
        let model = try JSONDecoder().decode(ModelConfiguration.self, from: Data(metadata["mobilenetcpu.model"]!.utf8))
        #expect(model == configuration)
        #expect(throws: EngineError.self) {
            try ONNXExport(
                network: try configuration.makeNetwork(maxBatchSize: 1), configuration: configuration,
                normalization: .cifar10, classNames: ["one"], producerVersion: "test")
        }
    }

    @Test func filesThatAreNotExportedModelsAreClearErrors() throws {
        func message(_ data: Data) -> String {
            do {
                _ = try ONNXImport.read(data, source: "x.onnx")
                return "no error"
            } catch { return "\(error)" }
        }
        #expect(message(Data([0xFF, 0xFF, 0xFF, 0x07, 0x01])).contains("x.onnx: not an ONNX model"))
        var foreign = Onnx_ModelProto()
        foreign.irVersion = 8
        #expect(message(try foreign.serializedData()).contains("only models written by `mobilenet export`"))
        let configuration = try ModelConfiguration(family: .seed)
        let good = try export(try configuration.makeNetwork(maxBatchSize: 1), configuration, fold: true).serializedData()
        #expect(message(good.prefix(good.count / 2)) != "no error")
        var missing = try export(try configuration.makeNetwork(maxBatchSize: 1), configuration, fold: true).model()
        missing.graph.initializer.removeAll { $0.name == "22.weight" }
        #expect(message(try missing.serializedData()).contains("missing initializer \"22.weight\""))
        var misshapen = try export(try configuration.makeNetwork(maxBatchSize: 1), configuration, fold: true).model()
        misshapen.graph.initializer[0].dims = [1, 2, 3]
        #expect(message(try misshapen.serializedData()).contains("bytes for shape [1, 2, 3]"))
    }
}
