import ConvEngine
import ConvModels
import Dispatch
import Foundation

/// Measures a model's training and inference speed on random data, layer by layer, beside what
/// OpenBLAS alone achieves on the GEMMs of the plain lowering of the same layers. Every figure is the
/// median of repeated runs after warm-up, measured in one process.
public struct Benchmark {
    /// One layer's figures for one batch.
    public struct Layer: Sendable {
        /// Checkpoint name.
        public var name: String
        /// Layer kind.
        public var kind: String
        /// MACs of the forward pass for the batch.
        public var multiplyAccumulates: Int
        /// Median forward seconds.
        public var forwardSeconds: Double
        /// Median backward seconds.
        public var backwardSeconds: Double
        /// Median seconds in an inference pass (evaluation mode): 0 for a layer another one does there
        /// (a batch norm folded into the convolution before it, a ReLU fused into it).
        public var inferenceSeconds: Double
        /// Forward GFLOP/s (2 × MACs / time); 0 for layers without MACs.
        public var forwardGFLOPs: Double { multiplyAccumulates == 0 ? 0 : 2e-9 * Double(multiplyAccumulates) / forwardSeconds }
        /// Backward GFLOP/s, counting 2 × MACs for each of the weight and input gradients.
        public var backwardGFLOPs: Double
        /// Seconds OpenBLAS alone takes for this layer's GEMMs (forward and backward), measured on
        /// the same shapes; nil for layers without GEMMs.
        public var gemmReferenceSeconds: Double?
        /// The layer's share of OpenBLAS's own speed: reference seconds / layer seconds.
        public var fractionOfGemmRate: Double? { gemmReferenceSeconds.map { $0 / (forwardSeconds + backwardSeconds) } }
        /// Bytes a pass must move at least (input and output, and their gradients in backward).
        public var forwardBytes: Int
        /// Bytes the backward pass must move at least.
        public var backwardBytes: Int
        /// Whether the layer before does this layer's work (a ReLU fused into batch norm).
        public var fusedIntoPrevious: Bool
        /// Whether the layer before computes this layer's input gradient in its own backward pass (a
        /// batch norm after a depthwise convolution), so that time is counted there.
        public var inputGradientByPrevious: Bool
    }

    /// Everything measured for one model and batch size.
    public struct Result: Sendable {
        /// The model's readable name.
        public var model: String
        /// The model.
        public var configuration: ModelConfiguration
        /// Images per step.
        public var batchSize: Int
        /// Threads the engine used (`Parallel.threadCount`).
        public var threads: Int
        /// How the convolutions ran.
        public var convolutionAlgorithm: ConvolutionAlgorithm
        /// MACs per image, as the paper counts them.
        public var multiplyAccumulatesPerImage: Int
        /// Counted parameters.
        public var parameters: Int
        /// Median seconds of one training step (forward, loss, backward, SGD update).
        public var trainStepSeconds: Double
        /// Median seconds of one inference pass (evaluation mode, the weights frozen:
        /// `Sequential.withFrozenWeights`).
        public var inferenceSeconds: Double
        /// Training throughput.
        public var trainImagesPerSecond: Double { Double(batchSize) / trainStepSeconds }
        /// Inference throughput.
        public var inferenceImagesPerSecond: Double { Double(batchSize) / inferenceSeconds }
        /// Every layer, in order.
        public var layers: [Layer]
        /// Distinct GEMM shapes and OpenBLAS's GFLOP/s on each.
        public var gemmRates: [(call: GemmTrace.Call, gflops: Double)]
        /// Peak resident memory of the process so far, in bytes.
        public var peakResidentBytes: Int
        /// OpenBLAS's GFLOP/s on a 2048 × 2048 × 2048 product in this process, on the engine's
        /// threads: what this machine's cores do at best, the yardstick of "fraction of the machine".
        public var machineGFLOPs: Double

        /// Floating-point operations of the lowered work of one training step: 2 × MACs forward,
        /// and twice that backward (weight and input gradients; the first layer has no input gradient).
        public var trainStepFLOPs: Double {
            layers.enumerated().reduce(0) { $0 + 2 * Double($1.element.multiplyAccumulates) * ($1.offset == 0 ? 2 : 3) }
        }
        /// Floating-point operations of one inference pass (2 × MACs).
        public var inferenceFLOPs: Double { layers.reduce(0) { $0 + 2 * Double($1.multiplyAccumulates) } }
        /// GFLOP/s of lowered work a training step achieves.
        public var trainGFLOPs: Double { 1e-9 * trainStepFLOPs / trainStepSeconds }
        /// GFLOP/s an inference pass achieves.
        public var inferenceGFLOPs: Double { 1e-9 * inferenceFLOPs / inferenceSeconds }
    }

    /// The model.
    public var configuration: ModelConfiguration
    /// Images per step.
    public var batchSize: Int
    /// Timed repetitions (the median is reported).
    public var repeats: Int
    /// Untimed repetitions first.
    public var warmup: Int
    /// How the convolutions run.
    public var convolutionAlgorithm: ConvolutionAlgorithm

    /// Describes a benchmark.
    public init(
        configuration: ModelConfiguration, batchSize: Int = 128, repeats: Int = 10, warmup: Int = 2,
        convolutionAlgorithm: ConvolutionAlgorithm = .auto
    ) throws {
        try require(batchSize > 0, "batch size must be positive, got \(batchSize)")
        try require(repeats > 0 && warmup >= 0, "repeats must be positive and warm-up not negative")
        self.configuration = configuration
        self.batchSize = batchSize
        self.repeats = repeats
        self.warmup = warmup
        self.convolutionAlgorithm = convolutionAlgorithm
    }

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty
            ? 0 : sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// Runs the measurements; `progress` is told what is being measured.
    public func run(progress: (String) -> Void = { _ in }) throws -> Result {
        let network = try configuration.makeNetwork(maxBatchSize: batchSize, seed: 1, convolutionAlgorithm: convolutionAlgorithm)
        let optimizer = try SGD(parameters: network.trainableParameters, momentum: 0.9)
        let loss = try SoftmaxCrossEntropy()
        var generator = RandomGenerator(seed: 2)
        for i in 0..<network.input.count { network.input.data[i] = generator.nextNormal() }
        let labels = (0..<batchSize).map { _ in Int32(generator.next() % UInt64(configuration.classCount)) }

        progress("training steps")
        var steps: [Double] = []
        try labels.withUnsafeBufferPointer { l in
            for r in 0..<(warmup + repeats) {
                let t = try Self.seconds {
                    _ = try network.trainStep(labels: l, loss: loss, optimizer: optimizer, learningRate: 1e-4)
                }
                if r >= warmup { steps.append(t) }
            }
        }
        progress("inference")
        network.eval()
        // Inference as a deployed model runs: the weights frozen, packed once (as an inference
        // runtime packs them when it loads the model), not on every pass.
        var inference: [Double] = []
        let count = network.entries.count
        var inferenceLayers = Array(repeating: [Double](), count: count)
        try network.withFrozenWeights {
            for r in 0..<(warmup + repeats) {
                let t = try Self.seconds { try network.forward() }
                if r >= warmup { inference.append(t) }
            }
            for r in 0..<(warmup + repeats) {
                let timer = LayerTimer(layerCount: count)
                try network.forward(observer: timer)
                if r >= warmup { for i in 0..<count { inferenceLayers[i].append(timer.forward[i]) } }
            }
        }

        progress("layers")
        var forward = Array(repeating: [Double](), count: count), backward = Array(repeating: [Double](), count: count)
        network.train()
        try labels.withUnsafeBufferPointer { l in
            for r in 0..<(warmup + repeats) {
                let timer = LayerTimer(layerCount: count)
                try network.forward(observer: timer)
                _ = try loss.evaluate(logits: network.output, labels: l, gradient: network.outputGradient)
                network.zeroGradients()
                try network.backward(observer: timer)
                if r >= warmup {
                    for i in 0..<count {
                        forward[i].append(timer.forward[i])
                        backward[i].append(timer.backward[i])
                    }
                }
            }
        }

        progress("OpenBLAS on the same GEMM shapes")
        // What the design's plain lowering would multiply for each layer (im2col + GEMM, or one GEMM),
        // whatever path the layer actually takes: the reference a layer's time is compared with.
        let gemms = network.entries.indices.map { i in
            Self.loweredProducts(network.entries[i].layer, input: network.shapes[i], inputGradient: i > 0)
        }
        var rates: [GemmTrace.Call: Double] = [:]
        for call in Set(gemms.joined()) { rates[call] = Self.gemmRate(call, repeats: repeats) }
        progress("OpenBLAS at its best (2048³)")
        let machine = Self.gemmRate(GemmTrace.Call(m: 2048, n: 2048, k: 2048), repeats: max(3, min(repeats, 5)))

        let layers = network.entries.enumerated().map { i, entry -> Layer in
            let macs = entry.layer.multiplyAccumulates
            let f = Self.median(forward[i]), b = Self.median(backward[i])
            let reference = gemms[i].isEmpty ? nil : gemms[i].reduce(0.0) { $0 + 2e-9 * Double($1.m * $1.n * $1.k) / rates[$1]! }
            let inputFloats = network.shapes[i].count, outputFloats = network.shapes[i + 1].count
            let backwardMACs = i == 0 ? macs : 2 * macs
            return Layer(
                name: entry.name, kind: entry.layer.kind, multiplyAccumulates: macs, forwardSeconds: f, backwardSeconds: b,
                inferenceSeconds: Self.median(inferenceLayers[i]),
                backwardGFLOPs: backwardMACs == 0 ? 0 : 2e-9 * Double(backwardMACs) / b,
                gemmReferenceSeconds: reference,
                forwardBytes: 4 * (inputFloats + outputFloats), backwardBytes: 4 * 2 * (inputFloats + outputFloats),
                fusedIntoPrevious: network.isFusedIntoPrevious(i),
                inputGradientByPrevious: network.inputGradientIsComputedByPrevious(i))
        }
        let cost = ModelCost(name: configuration.displayName, network: network)
        return Result(
            model: configuration.displayName, configuration: configuration, batchSize: batchSize, threads: Parallel.threadCount,
            convolutionAlgorithm: convolutionAlgorithm,
            multiplyAccumulatesPerImage: cost.multiplyAccumulates, parameters: cost.parameters,
            trainStepSeconds: Self.median(steps), inferenceSeconds: Self.median(inference), layers: layers,
            gemmRates: rates.map { ($0.key, $0.value) }.sorted { $0.0.m * $0.0.n * $0.0.k > $1.0.m * $1.0.n * $1.0.k },
            peakResidentBytes: Self.peakResidentBytes(), machineGFLOPs: machine)
    }

    /// The GEMMs im2col + GEMM would issue for a layer's passes at its prepared shape: forward
    /// `Y = X̂ · Wᵀ`, backward `dW = dYᵀ · X̂` and, when the input gradient is wanted, `dX̂ = dY · W`;
    /// none for layers without a product.
    static func loweredProducts(_ layer: ConvEngine.Layer, input: Shape, inputGradient: Bool) -> [GemmTrace.Call] {
        let rows: Int, outputs: Int, width: Int
        switch layer {
        case let conv as Conv2D:
            guard let output = conv.outputShape else { return [] }
            (rows, outputs, width) = (
                output.count / output.channels, conv.outputChannels, conv.kernelSize * conv.kernelSize * conv.inputChannels
            )
        case let pointwise as PointwiseConv2D:
            (rows, outputs, width) = (input.count / input.channels, pointwise.outputChannels, pointwise.inputChannels)
        case let linear as Linear:
            (rows, outputs, width) = (input.batch, linear.outputFeatures, linear.inputFeatures)
        default:
            return []
        }
        return [
            GemmTrace.Call(m: rows, n: outputs, k: width, transposeB: true),
            GemmTrace.Call(m: outputs, n: width, k: rows, transposeA: true),
        ]
            + (inputGradient ? [GemmTrace.Call(m: rows, n: width, k: outputs)] : [])
    }

    /// OpenBLAS's GFLOP/s on one shape (median over repeats, at least ~20 ms of work each).
    static func gemmRate(_ call: GemmTrace.Call, repeats: Int) -> Double {
        let a = FloatStorage(count: call.m * call.k), b = FloatStorage(count: call.k * call.n),
            c = FloatStorage(count: call.m * call.n)
        var g = RandomGenerator(seed: 3)
        for i in 0..<a.count { a.data[i] = g.nextUniform() }
        for i in 0..<b.count { b.data[i] = g.nextUniform() }
        let flops = 2.0 * Double(call.m * call.n * call.k)
        let inner = max(1, Int(2e7 / max(flops, 1)))
        var samples: [Double] = []
        for r in 0..<(repeats + 1) {
            let t = seconds {
                for _ in 0..<inner {
                    BLAS.gemm(
                        transposeA: call.transposeA, transposeB: call.transposeB, m: call.m, n: call.n, k: call.k,
                        a: a.data, b: b.data, c: c.data)
                }
            }
            if r > 0 { samples.append(t / Double(inner)) }
        }
        return flops * 1e-9 / median(samples)
    }

    /// Peak resident set size of this process (getrusage), in bytes.
    public static func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }
}

/// Per-layer seconds of one forward and one backward pass, taken as a `LayerObserver`.
final class LayerTimer: LayerObserver {
    /// Forward seconds per layer.
    var forward: [Double]
    /// Backward seconds per layer.
    var backward: [Double]
    private var start: UInt64 = 0

    init(layerCount: Int) {
        forward = [Double](repeating: 0, count: layerCount)
        backward = [Double](repeating: 0, count: layerCount)
    }

    func layerWillRun(_ index: Int, backward: Bool) { start = DispatchTime.now().uptimeNanoseconds }

    func layerDidRun(_ index: Int, backward isBackward: Bool) {
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        if isBackward { backward[index] += seconds } else { forward[index] += seconds }
    }
}
