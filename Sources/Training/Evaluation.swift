import CIFAR
import ConvEngine

/// A model's results on a labelled set.
public struct Evaluation: Sendable {
    /// Images evaluated.
    public var count: Int
    /// Mean cross-entropy.
    public var loss: Double
    /// Correct top-1 predictions.
    public var correct: Int
    /// confusion[true][predicted] counts.
    public var confusion: [[Int]]
    /// The logits, `[count, classes]` row-major in the set's order, when requested.
    public var logits: [Float]?

    /// Top-1 accuracy.
    public var accuracy: Double { count == 0 ? 0 : Double(correct) / Double(count) }

    /// Accuracy per true class.
    public var perClassAccuracy: [Double] {
        confusion.enumerated().map { k, row in
            let total = row.reduce(0, +)
            return total == 0 ? 0 : Double(row[k]) / Double(total)
        }
    }

    /// Runs `network` in evaluation mode over every image of `images`, in order, in batches of the
    /// network's maximum size (the last one smaller), each image prepared for the network's input
    /// size by the evaluation transform (`ImageTransform.choose`: resized if need be, or resized and
    /// centre-cropped for images of varying sizes).
    ///
    /// - Parameters:
    ///   - transform: how to prepare each image instead (`predict` uses the one of the data the
    ///     model was trained on).
    ///   - keepLogits: also return every image's logits.
    ///   - shard: evaluate only this part of every batch of `maxBatchSize × shard.count` images (a
    ///     process of a data-parallel run takes its own; `reduced(over:)` adds up the parts).
    ///   - flipTestTime: test-time augmentation: each image's logits are the mean of its own and
    ///     those of its horizontal mirror (two forward passes).
    public static func run(
        _ network: Sequential, on images: ImageSet, normalization: Normalization,
        classCount: Int, transform: ImageTransform? = nil, keepLogits: Bool = false,
        shard: BatchLoader.Shard = .whole, flipTestTime: Bool = false
    ) throws -> Evaluation {
        let transform =
            transform
            ?? ImageTransform.choose(
                side: network.itemShape[0], fixedSide: images.fixedSide, training: false,
                augment: false)
        let loader = try BatchLoader(
            images: images,
            options: .init(
                batchSize: network.maxBatchSize * shard.count, shuffle: false, transform: transform,
                normalization: normalization, dropLastPartialBatch: false
            ).sharded(shard))
        guard loader.itemShape == network.itemShape.dimensions else {
            throw EngineError.shapeMismatch(
                "the loader delivers images of \(loader.itemShape) but the network takes \(network.itemShape)")
        }
        let loss = try SoftmaxCrossEntropy()
        var labels = [Int32](repeating: 0, count: network.maxBatchSize)
        var result = Evaluation(
            count: 0, loss: 0, correct: 0,
            confusion: Array(repeating: Array(repeating: 0, count: classCount), count: classCount),
            logits: keepLogits ? [] : nil)
        defer { try? network.setBatchSize(network.maxBatchSize) }
        // The first pass's logits while the mirrored images run.
        var unflipped = [Float](repeating: 0, count: flipTestTime ? network.output.count : 0)
        // The weights are packed once for the whole set, not on every batch.
        try network.withFrozenWeights {
            for _ in 0..<loader.batchesPerEpoch {
                // The input region holds a full batch at any batch size: the loader writes straight into it.
                let n = try labels.withUnsafeMutableBufferPointer {
                    try loader.next(images: network.input.data, labels: $0.baseAddress!)
                }
                guard n > 0 else { continue }
                try network.setBatchSize(n)
                var batch = try labels.withUnsafeBufferPointer {
                    try network.evaluate(labels: UnsafeBufferPointer(rebasing: $0[0..<n]), loss: loss)
                }
                if flipTestTime {
                    let z = network.output
                    unflipped.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: z.data, count: z.count) }
                    mirror(network.input)
                    _ = try labels.withUnsafeBufferPointer {
                        try network.evaluate(labels: UnsafeBufferPointer(rebasing: $0[0..<n]), loss: loss)
                    }
                    for i in 0..<z.count { z.data[i] = 0.5 * (z.data[i] + unflipped[i]) }
                    batch = try labels.withUnsafeBufferPointer {
                        try loss.evaluate(logits: z, labels: UnsafeBufferPointer(rebasing: $0[0..<n]), gradient: nil)
                    }
                }
                result.count += n
                result.correct += batch.correct
                result.loss += Double(batch.loss) * Double(n)
                let z = network.output
                let k = z.shape.channels
                guard k == classCount else {
                    throw EngineError.shapeMismatch("the network has \(k) outputs but the data has \(classCount) classes")
                }
                for i in 0..<n {
                    var best = 0
                    for j in 1..<k where z.data[i * k + j] > z.data[i * k + best] { best = j }
                    result.confusion[Int(labels[i])][best] += 1
                }
                if keepLogits { result.logits! += UnsafeBufferPointer(start: z.data, count: n * k) }
            }
        }
        result.loss /= Double(max(result.count, 1))
        return result
    }

    /// Mirrors every image of an NHWC batch left to right, in place.
    static func mirror(_ batch: TensorView) {
        let (n, h, w, c) = (batch.shape.batch, batch.shape.height, batch.shape.width, batch.shape.channels)
        for row in 0..<(n * h) {
            let r = batch.data + row * w * c
            for x in 0..<(w / 2) {
                let a = r + x * c, b = r + (w - 1 - x) * c
                for k in 0..<c { swap(&a[k], &b[k]) }
            }
        }
    }

    /// The evaluation of the whole set from every process's part (`run(shard:)`): counts, losses
    /// and confusion matrices added across `group`. Logits are not gathered.
    public func reduced(over group: ProcessGroup) throws -> Evaluation {
        let k = confusion.count
        var values = [Double(count), Double(correct), loss * Double(count)] + confusion.flatMap { $0.map(Double.init) }
        try values.withUnsafeMutableBufferPointer { try group.sum($0.baseAddress!, count: $0.count) }
        var total = self
        total.count = Int(values[0])
        total.correct = Int(values[1])
        total.loss = values[2] / max(values[0], 1)
        total.confusion = (0..<k).map { i in (0..<k).map { j in Int(values[3 + i * k + j]) } }
        total.logits = nil
        return total
    }
}
