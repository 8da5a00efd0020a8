import Foundation

/// Softmax followed by cross-entropy against integer labels, averaged over the batch, with optional
/// label smoothing as PyTorch defines it: the target is (1 − ε)·one-hot + ε/classes.
public struct SoftmaxCrossEntropy: Sendable {
    /// ε, in [0, 1).
    public let labelSmoothing: Float

    /// Creates the loss.
    ///
    /// - Throws: `EngineError.invalidArgument` unless 0 ≤ labelSmoothing < 1.
    public init(labelSmoothing: Float = 0) throws {
        try require(
            labelSmoothing >= 0 && labelSmoothing < 1,
            "label smoothing must be in [0, 1), got \(labelSmoothing)")
        self.labelSmoothing = labelSmoothing
    }

    /// The result of one evaluation.
    public struct Result: Sendable {
        /// The mean loss over the batch.
        public var loss: Float
        /// How many rows have their label as the top logit.
        public var correct: Int

        /// Creates a result.
        public init(loss: Float, correct: Int) {
            self.loss = loss
            self.correct = correct
        }
    }

    /// Computes the mean loss of `logits [N, classes]` and, when `gradient` is given, writes
    /// d(loss)/d(logits) = (softmax − target) / N into it.
    ///
    /// - Throws: `EngineError` when the label count is not N or a label is out of range.
    public func evaluate(logits: TensorView, labels: UnsafeBufferPointer<Int32>, gradient: TensorView?) throws -> Result {
        guard logits.shape.rank == 2 else {
            throw EngineError.shapeMismatch("cross-entropy expects logits [N, classes], got \(logits.shape)")
        }
        let n = logits.shape.batch, k = logits.shape.channels
        guard labels.count == n else {
            throw EngineError.shapeMismatch("cross-entropy got \(labels.count) labels for \(n) rows of logits")
        }
        if let gradient, gradient.shape != logits.shape {
            throw EngineError.shapeMismatch("cross-entropy gradient \(gradient.shape) does not match logits \(logits.shape)")
        }
        for i in 0..<n where labels[i] < 0 || Int(labels[i]) >= k {
            throw EngineError.invalidArgument("label \(labels[i]) of row \(i) is outside 0..<\(k)")
        }
        let eps = Double(labelSmoothing), offTarget = eps / Double(k), onTarget = 1 - eps + offTarget
        var total = 0.0, correct = 0
        for row in 0..<n {
            let z = logits.data + row * k, label = Int(labels[row])
            var maxIndex = 0
            for j in 1..<max(k, 1) where z[j] > z[maxIndex] { maxIndex = j }
            if maxIndex == label { correct += 1 }
            let zMax = Double(z[maxIndex])
            var sumExp = 0.0, sumZ = 0.0
            for j in 0..<k {
                sumExp += exp(Double(z[j]) - zMax)
                sumZ += Double(z[j])
            }
            let logSumExp = zMax + log(sumExp)
            // −Σ_j q_j log p_j with q = (1 − ε)·one-hot + ε/k.
            total += (1 - eps) * (logSumExp - Double(z[label])) + eps * (logSumExp - sumZ / Double(k))
            if let gradient {
                let g = gradient.data + row * k
                for j in 0..<k {
                    let p = exp(Double(z[j]) - logSumExp)
                    g[j] = Float((p - (j == label ? onTarget : offTarget)) / Double(n))
                }
            }
        }
        return Result(loss: Float(total / Double(n)), correct: correct)
    }
}
