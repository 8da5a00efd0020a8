import ConvModels
import Foundation
import Testing

@testable import ConvEngine

/// The README's promise: the same seed gives the same bits on any thread count. Whole training steps
/// of every model family run on 1, 2 and 3 threads (3 does not divide the slices evenly on a 2-core
/// host) and must agree bit for bit in every parameter, buffer, optimizer state and logit; and the
/// GEMMs they issue must be cut into the same bands, which is what makes OpenBLAS's part agree on
/// every kernel set (on some, a product cut differently happens to give the same bits, so the bits
/// alone would not catch a partition that follows the thread count there).
@Suite struct DeterminismTests {
    static let models: [ModelConfiguration] = [
        try! ModelConfiguration(family: .seed),
        try! ModelConfiguration(family: .seed, standard: true),
        try! ModelConfiguration(family: .mobilenet, widthMultiplier: 0.25, stem: .cifar),
        try! ModelConfiguration(family: .mobilenet, widthMultiplier: 0.5, stem: .cifar, standard: true),
        try! ModelConfiguration(family: .mobilenet, widthMultiplier: 0.25, resolution: 64, stem: .imagenet),
    ]

    /// Everything a run's future depends on after some steps, and the GEMMs it issued.
    struct Outcome: Equatable {
        var state: [String: [UInt32]]
        var logits: [UInt32]
        var gemms: [GemmTrace.Call]
    }

    static func train(_ config: ModelConfiguration, threads: Int) throws -> Outcome {
        let batch = 12
        let network = try config.makeNetwork(maxBatchSize: batch, seed: 5)
        let optimizer = try SGD(parameters: network.trainableParameters, momentum: 0.9, nesterov: true, weightDecay: .l2(5e-4))
        let trace = GemmTrace()
        try Parallel.withThreadCount(threads) {
            try GemmTrace.$current.withValue(trace) {
                for s in 0..<2 {
                    try step(
                        network, syntheticBatch(step: s, batch: batch, side: config.resolution, classes: 10), optimizer,
                        lr: 0.05, loss: SoftmaxCrossEntropy(labelSmoothing: 0.1))
                }
            }
        }
        var state: [String: [UInt32]] = [:]
        for (name, p) in network.namedParameters {
            state[name] = p.value.buffer.map(\.bitPattern)
            guard let index = optimizer.parameters.firstIndex(where: { $0 === p }) else { continue }
            for (slot, storage) in optimizer.state(of: index) { state["\(name).\(slot)"] = storage.buffer.map(\.bitPattern) }
        }
        let logits = try Parallel.withThreadCount(threads) {
            try network.predict(syntheticBatch(step: 9, batch: batch, side: config.resolution, classes: 10).images)
        }
        return Outcome(state: state, logits: logits.scalars.map(\.bitPattern), gemms: trace.calls)
    }

    @Test(arguments: models)
    func trainingStepsGiveTheSameBitsOnOneTwoAndThreeThreads(_ config: ModelConfiguration) throws {
        let one = try Self.train(config, threads: 1)
        // SeedNet's products are all small or direct; every MobileNet has pointwise GEMMs cut into bands.
        if config.family == .mobilenet {
            #expect(one.gemms.contains { $0.bands > 1 }, "\(config.displayName): no GEMM large enough to be cut into bands")
        }
        // Where the engine's kernel takes transposed products (AVX-512 builds), a separable
        // MobileNet's step runs none on OpenBLAS, so its bits do not depend on OpenBLAS's kernel set.
        if config.family == .mobilenet, !config.standard, PanelGemm.transposesA {
            let onOpenBLAS = one.gemms.filter { !$0.transposeA && $0.k > PanelGemm.maximumDepth }
            #expect(onOpenBLAS.isEmpty, "\(config.displayName): products left to OpenBLAS: \(onOpenBLAS.prefix(3))")
        }
        for threads in [2, 3] {
            let other = try Self.train(config, threads: threads)
            #expect(other.gemms == one.gemms, "\(config.displayName): GEMM bands differ between 1 and \(threads) threads")
            let differing = one.state.keys.filter { one.state[$0] != other.state[$0] }.sorted()
            #expect(
                differing.isEmpty,
                "\(config.displayName): \(differing.count) tensors differ between 1 and \(threads) threads: \(differing.prefix(5))"
            )
            #expect(other.logits == one.logits, "\(config.displayName): logits differ between 1 and \(threads) threads")
        }
    }

    /// A product's bands follow its shape: never more than the rows (or columns) allow, one for a
    /// small product, several for a large one, of rows or of columns by what they read, whatever
    /// the thread count.
    @Test func gemmBandsFollowTheShapeOnly() {
        #expect(BLAS.partition(m: 64, n: 64, k: 64, transposeA: false).bands == 1)
        let large = BLAS.partition(m: 16384, n: 64, k: 32, transposeA: false)
        #expect(large.bands == BLAS.maximumBands && large.byRows)
        let transposed = BLAS.partition(m: 32, n: 64, k: 16384, transposeA: true)
        #expect(transposed.bands == BLAS.maximumColumnBands && !transposed.byRows)
        // A batch of one at 7×7: bands of rows would each read all the weights, bands of columns
        // share the small activations.
        let fewRows = BLAS.partition(m: 49, n: 1024, k: 1024, transposeA: false)
        #expect(fewRows.bands == BLAS.maximumBands && !fewRows.byRows)
        #expect(BLAS.partition(m: Int.max / 2, n: 4, k: 4, transposeA: false).bands == BLAS.maximumBands)
    }
}

/// Forcing an algorithm changes how convolutions run, not what they compute: a training step of each
/// model under im2col, direct and Winograd gives `auto`'s weights and logits to rounding.
@Suite struct ConvolutionAlgorithmTests {
    @Test(arguments: [
        try! ModelConfiguration(family: .seed, standard: true),
        try! ModelConfiguration(family: .mobilenet, widthMultiplier: 0.25, stem: .cifar, standard: true),
        try! ModelConfiguration(family: .mobilenet, widthMultiplier: 0.25, stem: .cifar),
    ])
    func everyAlgorithmTrainsTheSameModel(_ config: ModelConfiguration) throws {
        func train(_ algorithm: ConvolutionAlgorithm) throws -> [Float] {
            let network = try config.makeNetwork(maxBatchSize: 4, seed: 3, convolutionAlgorithm: algorithm)
            let optimizer = try SGD(parameters: network.trainableParameters, momentum: 0.9)
            try step(network, syntheticBatch(step: 0, batch: 4, side: 32, classes: 10), optimizer, lr: 0.01)
            let logits = try network.predict(syntheticBatch(step: 1, batch: 4, side: 32, classes: 10).images)
            return network.namedParameters.flatMap { Array($0.parameter.value.buffer) } + logits.scalars
        }
        let reference = try train(.auto)
        for algorithm in [ConvolutionAlgorithm.im2col, .direct, .winograd] {
            let values = try train(algorithm)
            var num = 0.0, den = 0.0
            for (a, b) in zip(values, reference) {
                num += Double((a - b) * (a - b))
                den += Double(b * b)
            }
            #expect(
                (num / den).squareRoot() <= 1e-5,
                "\(config.displayName), \(algorithm): relative error \((num / den).squareRoot())")
        }
    }
}
