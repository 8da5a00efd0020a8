import ConvEngine
import ConvModels
import Foundation
import Testing

@Suite struct CheckpointTests {
    func seedNetwork(seed: UInt64 = 5) throws -> Sequential {
        try ModelConfiguration(family: .seed).makeNetwork(maxBatchSize: 2, seed: seed)
    }

    func snapshot(_ network: Sequential) -> [[Float]] { network.namedParameters.map { Array($0.parameter.value.buffer) } }

    /// Each corruption is rejected with a message naming the problem, and the network is untouched.
    @Test func corruptOrMismatchedCheckpointsAreRejectedAndChangeNothing() throws {
        let source = try seedNetwork(seed: 1)
        let valid = try Checkpoint.make(network: source, optimizer: nil, metadata: ModelConfiguration(family: .seed).metadata)
        var wrongShape = valid
        try wrongShape.setFloats("3.weight", shape: [32, 1, 5, 5], [Float](repeating: 0, count: 800))
        var missing = valid
        missing.entries["5.bias"] = nil
        var extra = valid
        try extra.setFloats("99.weight", shape: [1], [0])
        var wrongType = valid
        try wrongType.setInt64s("0.bias", shape: [32], [Int64](repeating: 0, count: 32))
        var nonFinite = valid
        try nonFinite.setFloats("0.bias", shape: [32], [Float](repeating: .nan, count: 32))
        let bytes = valid.serialized()
        // Two entries of the right sizes whose byte ranges overlap.
        let overlapHeader =
            #"{"0.bias":{"dtype":"F32","shape":[32],"data_offsets":[0,128]},"0.weight":{"dtype":"F32","shape":[32,3,3,3],"data_offsets":[64,3520]}}"#
        var overlapping = (0..<8).map { UInt8(truncatingIfNeeded: overlapHeader.utf8.count >> (8 * $0)) }
        overlapping += Array(overlapHeader.utf8) + [UInt8](repeating: 0, count: 3520)

        let cases: [(String, () throws -> SafeTensors, String)] = [
            ("wrong shape", { wrongShape }, "3.weight"),
            ("missing tensor", { missing }, "missing tensor \"5.bias\""),
            ("unexpected tensor", { extra }, "unexpected tensor \"99.weight\""),
            ("wrong dtype", { wrongType }, "0.bias"),
            ("NaN values", { nonFinite }, "NaN"),
            ("truncated file", { try SafeTensors(bytes: Array(bytes.dropLast(100)), source: "ckpt") }, "truncated"),
            (
                "bad header JSON",
                {
                    try SafeTensors(
                        bytes: Array(bytes[0..<8]) + Array("{\"0.weight\": [".utf8) + Array(bytes[22...]), source: "ckpt")
                }, "JSON"
            ),
            ("overlapping offsets", { try SafeTensors(bytes: overlapping, source: "ckpt") }, "overlap"),
        ]
        for (label, make, reason) in cases {
            let target = try seedNetwork(seed: 2)
            let before = snapshot(target)
            do {
                try Checkpoint.restore(try make(), into: target, source: "ckpt")
                Issue.record("\(label): accepted")
            } catch let error as EngineError {
                #expect("\(error)".contains(reason), "\(label): \(error)")
            }
            #expect(snapshot(target) == before, "\(label) changed the network")
        }
    }

    @Test func optimizerStateMustMatch() throws {
        let network = try seedNetwork()
        let sgd = try SGD(parameters: network.trainableParameters, momentum: 0.9)
        let file = try Checkpoint.make(network: network, optimizer: sgd)
        #expect(file.entries["optimizer.0.weight.momentum_buffer"]?.shape == [32, 3, 3, 3])
        let adam = try Adam(parameters: network.trainableParameters)
        #expect(throws: EngineError.self) { try Checkpoint.restore(file, into: network, optimizer: adam) }
        let weightsOnly = try Checkpoint.make(network: network, optimizer: nil)
        #expect(throws: EngineError.self) { try Checkpoint.restore(weightsOnly, into: network, optimizer: sgd) }
        // Loading weights only ignores optimizer tensors.
        try Checkpoint.restore(file, into: network)
    }

    /// A checkpoint with a weight average holds it as `ema.<name>` (batch norm's buffers too) with its
    /// update count; resuming restores the live weights and the averages, loading weights only takes
    /// the averages, and a resume without an average refuses it.
    @Test func weightAveragesRoundTripAndAreTheWeightsOfAWeightsOnlyLoad() throws {
        let model = try ModelConfiguration(family: .mobilenet, widthMultiplier: 0.25, stem: .cifar)
        let network = try model.makeNetwork(maxBatchSize: 2, seed: 1)
        let sgd = try SGD(parameters: network.trainableParameters, momentum: 0.9)
        let ema = try ExponentialMovingAverage(parameters: network.namedParameters.map(\.parameter), decay: 0.99)
        for (i, (_, p)) in network.namedParameters.enumerated() {
            for j in 0..<p.count { p.value.data[j] += Float((i + j) % 7) * 0.01 }
        }
        ema.update()
        ema.update()
        let file = try Checkpoint.make(network: network, optimizer: sgd, average: ema)
        #expect(file.entries["ema.0.weight"]?.shape == [8, 3, 3, 3] && file.entries["ema.1.running_mean"] != nil)
        #expect(file.metadata["ema.updates"] == "2")

        let resumed = try model.makeNetwork(maxBatchSize: 2, seed: 9)
        let resumedSGD = try SGD(parameters: resumed.trainableParameters, momentum: 0.9)
        let resumedEMA = try ExponentialMovingAverage(parameters: resumed.namedParameters.map(\.parameter), decay: 0.99)
        try Checkpoint.restore(file, into: resumed, optimizer: resumedSGD, average: resumedEMA)
        #expect(snapshot(resumed) == snapshot(network) && resumedEMA.updateCount == 2)
        for ((_, p), (_, q)) in zip(network.namedParameters, resumed.namedParameters) {
            #expect(Array(ema.average(of: p)!.buffer) == Array(resumedEMA.average(of: q)!.buffer))
        }

        let evaluated = try model.makeNetwork(maxBatchSize: 2, seed: 9)
        try Checkpoint.restore(file, into: evaluated)
        #expect(snapshot(evaluated) == network.namedParameters.map { Array(ema.average(of: $0.parameter)!.buffer) })

        #expect(throws: EngineError.self) { try Checkpoint.restore(file, into: evaluated, optimizer: resumedSGD) }
        let withoutAverage = try Checkpoint.make(network: network, optimizer: sgd)
        #expect(throws: EngineError.self) {
            try Checkpoint.restore(withoutAverage, into: resumed, optimizer: resumedSGD, average: resumedEMA)
        }
    }

    @Test func batchNormCountersAreInt64Scalars() throws {
        let network = try ModelConfiguration(family: .mobilenet, widthMultiplier: 0.25, stem: .cifar).makeNetwork(maxBatchSize: 2)
        let file = try Checkpoint.make(network: network, optimizer: nil)
        #expect(file.entries["1.num_batches_tracked"]?.dtype == .i64)
        #expect(file.entries["1.num_batches_tracked"]?.shape == [])
        #expect(file.entries["1.running_var"]?.shape == [8])
    }

    @Test func configurationRoundTripsThroughMetadata() throws {
        let config = try ModelConfiguration(
            family: .mobilenet, widthMultiplier: 0.75, resolution: 160, classCount: 100,
            stem: .imagenet, standard: true)
        #expect(try ModelConfiguration(metadata: config.metadata) == config)
        var broken = config.metadata
        broken["model.stem"] = "martian"
        #expect(throws: EngineError.self) { try ModelConfiguration(metadata: broken) }
        broken["model.stem"] = nil
        #expect(throws: EngineError.self) { try ModelConfiguration(metadata: broken) }
    }

    /// The output stride is saved in the metadata and the JSON form; a checkpoint or an ONNX file
    /// written before it existed (no key) has the stem's, and a bad value is an error naming it.
    @Test func outputStrideRoundTripsAndIsTheStemsWhenAbsent() throws {
        let config = try ModelConfiguration(family: .mobilenet, widthMultiplier: 0.5, stem: .cifar, outputStride: 8)
        #expect(config.metadata["model.output_stride"] == "8")
        #expect(try ModelConfiguration(metadata: config.metadata) == config)
        let json = try JSONEncoder().encode(config)
        #expect(String(decoding: json, as: UTF8.self).contains("\"output_stride\":8"))
        #expect(try JSONDecoder().decode(ModelConfiguration.self, from: json) == config)
        let natural = try ModelConfiguration(family: .mobilenet, widthMultiplier: 0.5, stem: .cifar)
        var old = natural.metadata
        old["model.output_stride"] = nil
        #expect(try ModelConfiguration(metadata: old) == natural)
        let oldJSON =
            #"{"family":"mobilenet","width_multiplier":0.5,"resolution":32,"classes":10,"stem":"cifar","standard":false}"#
        #expect(try JSONDecoder().decode(ModelConfiguration.self, from: Data(oldJSON.utf8)) == natural)
        for bad in ["eight", "3", "32", ""] {
            var broken = config.metadata
            broken["model.output_stride"] = bad
            #expect(throws: EngineError.self, "\(bad)") { try ModelConfiguration(metadata: broken) }
        }
        let seed = try ModelConfiguration(family: .seed)
        #expect(seed.metadata["model.output_stride"] == nil)
        #expect(try ModelConfiguration(metadata: seed.metadata) == seed)
    }
}
