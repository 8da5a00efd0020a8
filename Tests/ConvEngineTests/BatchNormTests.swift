import ConvEngine
import Testing

@Suite struct BatchNormTests {
    func make(_ channels: Int) throws -> BatchNorm {
        let bn = try BatchNorm(channels: channels)
        randomize(bn.weight, seed: 31)
        randomize(bn.bias, seed: 32)
        return bn
    }

    @Test func trainingForwardMatchesNaiveLoopAndUpdatesRunningStatistics() throws {
        let bn = try make(6)
        let x = Tensor.random([3, 5, 4, 6], seed: 33, scale: 2)
        let y = try bn.forward(x, context: ExecutionContext(isTraining: true))
        let ref = referenceBatchNorm(x, gamma: Array(bn.weight.value.buffer), beta: Array(bn.bias.value.buffer), epsilon: 1e-5)
        #expect(relativeError(y.scalars, ref.y) <= 1e-5)
        let m = Double(3 * 5 * 4)
        let expectedMean = ref.mean.map { 0.1 * $0 }
        let expectedVar = ref.variance.map { 0.9 + 0.1 * $0 * m / (m - 1) }
        #expect(relativeError(Array(bn.runningMean.value.buffer), expectedMean) <= 1e-5)
        #expect(relativeError(Array(bn.runningVariance.value.buffer), expectedVar) <= 1e-5)
        #expect(bn.batchesTracked == 1)
    }

    @Test func evaluationUsesRunningStatistics() throws {
        let bn = try make(4)
        for c in 0..<4 {
            bn.runningMean.value.data[c] = Float(c)
            bn.runningVariance.value.data[c] = Float(c + 1)
        }
        let x = Tensor.random([2, 3, 3, 4], seed: 34)
        let y = try bn.forward(x, context: ExecutionContext(isTraining: false))
        var expected = [Double](repeating: 0, count: x.scalars.count)
        for i in x.scalars.indices {
            let c = i % 4
            expected[i] =
                (Double(x.scalars[i]) - Double(c)) / (Double(c + 1) + 1e-5).squareRoot()
                * Double(bn.weight.value.data[c]) + Double(bn.bias.value.data[c])
        }
        #expect(relativeError(y.scalars, expected) <= 1e-5)
        #expect(bn.batchesTracked == 0)
    }

    @Test(arguments: [true, false])
    func backwardMatchesFiniteDifferences(training: Bool) throws {
        let bn = try make(7)
        try checkGradients(of: bn, input: .random([2, 3, 5, 7], seed: 35, scale: 2), training: training)
    }

    /// An input large enough to be split over threads: the naive result, and the same bits on one
    /// thread or two, forward and backward.
    @Test func largeInputsMatchNaiveLoopOnAnyThreadCount() throws {
        let x = Tensor.random([4, 16, 16, 64], seed: 37, scale: 2)
        let dy = Tensor.random([4, 16, 16, 64], seed: 38)
        var runs: [(y: [Float], dx: [Float], dgamma: [Float])] = []
        for threads in [1, 2] {
            let bn = try make(64)
            try Parallel.withThreadCount(threads) {
                let y = try bn.forward(x, context: ExecutionContext(isTraining: true))
                let dx = try bn.backward(dy, input: x, output: y, context: ExecutionContext(isTraining: true))
                runs.append((y.scalars, dx.scalars, Array(bn.weight.gradient.buffer)))
            }
            let ref = referenceBatchNorm(
                x, gamma: Array(bn.weight.value.buffer), beta: Array(bn.bias.value.buffer), epsilon: 1e-5)
            #expect(relativeError(runs[0].y, ref.y) <= 1e-5)
        }
        #expect(runs[0].y == runs[1].y)
        #expect(runs[0].dx == runs[1].dx)
        #expect(runs[0].dgamma == runs[1].dgamma)
    }

    /// One pass gives the statistics (sums around a shift near the mean): a mean 10⁴ times the
    /// spread, and a batch whose halves differ by far more than either's spread, still give the
    /// variance of the two-pass Double reference. Σx²/M − mean² in Float would give noise or 0 for the
    /// first.
    @Test(arguments: [(10_000 as Float, 1 as Float), (0, 1_000)])
    func statisticsHoldWhenTheMeanDwarfsTheSpread(offset: Float, halves: Float) throws {
        let channels = 3
        var x = Tensor.random([8, 16, 16, channels], seed: 39)
        let count = x.scalars.count
        for i in 0..<count { x.scalars[i] += offset + (i < count / 2 ? halves : -halves) }
        let bn = try BatchNorm(channels: channels, momentum: 1)
        let y = try bn.forward(x, context: ExecutionContext(isTraining: true))
        let ref = referenceBatchNorm(x, gamma: [1, 1, 1], beta: [0, 0, 0], epsilon: 1e-5)
        let m = Double(count / channels)
        #expect(relativeError(Array(bn.runningVariance.value.buffer), ref.variance.map { $0 * m / (m - 1) }) <= 1e-4)
        // The mean to Float's precision of the values summed (about 10⁻⁷ of |x|), not of the mean.
        for c in 0..<channels {
            let error = abs(Double(bn.runningMean.value.buffer[c]) - ref.mean[c])
            #expect(error <= 1e-6 * Double(offset + halves), "channel \(c)")
        }
        // x·scale + shift in Float around 10⁴ rounds at about 10⁻³ of y's spread.
        #expect(relativeError(y.scalars, ref.y) <= (offset > 0 ? 1e-2 : 1e-5))
    }

    @Test func gradientsOnRankTwoInputMatchFiniteDifferences() throws {
        try checkGradients(of: make(5), input: .random([6, 5], seed: 36))
    }

    @Test func matchesPyTorchInTrainingMode() throws {
        let bn = try BatchNorm(channels: 6)
        for (tensor, error) in try checkAgainstFixture("batchnorm_train", layer: bn) {
            #expect(error <= 1e-4, "batchnorm_train \(tensor): relative error \(error)")
        }
    }

    @Test func rejectsBadArguments() throws {
        #expect(throws: EngineError.self) { try BatchNorm(channels: 0) }
        #expect(throws: EngineError.self) { try BatchNorm(channels: 4, momentum: 1.5) }
        #expect(throws: EngineError.self) { try BatchNorm(channels: 4, epsilon: 0) }
        let bn = try BatchNorm(channels: 4)
        #expect(throws: EngineError.self) { try bn.prepare(for: .nhwc(2, 3, 3, 5)) }
        // One value per channel cannot be normalised in training.
        #expect(throws: EngineError.self) {
            try bn.forward(Tensor(shape: .nhwc(1, 1, 1, 4)), context: ExecutionContext(isTraining: true))
        }
    }
}
