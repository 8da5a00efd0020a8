import Testing

@testable import ConvEngine

@Suite struct PointwiseConv2DTests {
    func make(cin: Int, cout: Int, bias: Bool, algorithm: ConvolutionAlgorithm = .auto) throws -> PointwiseConv2D {
        let pw = try PointwiseConv2D(inputChannels: cin, outputChannels: cout, bias: bias, algorithm: algorithm)
        randomize(pw.weight, seed: 21)
        if let b = pw.bias { randomize(b, seed: 22) }
        return pw
    }

    /// The last two have 32 input channels, which take the direct kernels in AVX2 builds and the
    /// GEMM in AVX-512 builds (`ConvolutionPolicy.pointwiseDirectChannels`); each case states its path.
    @Test(arguments: [
        (2, 5, 3, 19, 11, true, ConvolutionPath.gemm), (3, 4, 7, 6, 17, false, .gemm), (1, 1, 1, 33, 5, true, .gemm),
        (2, 3, 5, 32, 40, true, autoPathAt32), (2, 4, 3, 32, 13, false, autoPathAt32),
    ])
    func forwardMatchesNaiveLoopAndGradientsMatchFiniteDifferences(
        _ c: (n: Int, h: Int, w: Int, cin: Int, cout: Int, bias: Bool, path: ConvolutionPath)
    ) throws {
        let pw = try make(cin: c.cin, cout: c.cout, bias: c.bias)
        let x = Tensor.random([c.n, c.h, c.w, c.cin], seed: 23)
        _ = try pw.prepare(for: x.shape)
        #expect(pw.path == c.path)
        let y = try pw.forward(x)
        // A 1×1 convolution is the k = 1 case of the reference convolution ([O, I] = OHWI with k = 1).
        let ref = referenceConv(
            x, weight: Array(pw.weight.value.buffer), bias: pw.bias.map { Array($0.value.buffer) },
            outputChannels: c.cout, kernel: 1, stride: 1, padding: 0)
        #expect(relativeError(y.scalars, ref.values) <= 1e-5)
        try checkGradients(of: pw, input: x)
    }

    /// `auto`'s path for a pointwise layer over 32 channels in this build.
    static let autoPathAt32: ConvolutionPath = ConvolutionPolicy.pointwiseDirectChannels == 32 ? .direct : .gemm

    /// The direct kernels on a batch large enough to be cut into image slices: the naive results, and
    /// the same bits on one thread or two.
    @Test func directKernelsMatchNaiveLoopsOnAnyThreadCount() throws {
        let x = Tensor.random([8, 16, 16, 32], seed: 25), dy = Tensor.random([8, 16, 16, 32], seed: 26)
        var runs: [[[Float]]] = []
        for threads in [1, 2] {
            let pw = try make(cin: 32, cout: 32, bias: true, algorithm: .direct)
            try Parallel.withThreadCount(threads) {
                let y = try pw.forward(x)
                let dx = try pw.backward(dy, input: x, output: y)
                runs.append([y.scalars, dx.scalars, Array(pw.weight.gradient.buffer), Array(pw.bias!.gradient.buffer)])
            }
        }
        let pw = try make(cin: 32, cout: 32, bias: true)
        let ref = referenceConv(
            x, weight: Array(pw.weight.value.buffer), bias: Array(pw.bias!.value.buffer),
            outputChannels: 32, kernel: 1, stride: 1, padding: 0)
        let grads = referenceConvBackward(x, weight: Array(pw.weight.value.buffer), dy: dy, kernel: 1, stride: 1, padding: 0)
        #expect(relativeError(runs[0][0], ref.values) <= 1e-5)
        #expect(relativeError(runs[0][1], grads.dx) <= 1e-5)
        #expect(relativeError(runs[0][2], grads.dweight) <= 1e-5)
        #expect(runs[0] == runs[1])
    }

    /// Forced to the direct kernels or to the GEMM, any channel count gives the naive results.
    @Test(arguments: [ConvolutionAlgorithm.direct, .im2col])
    func forcedAlgorithmsMatchTheNaiveLoop(_ algorithm: ConvolutionAlgorithm) throws {
        for (cin, cout) in [(19, 11), (32, 40), (64, 24), (3, 8)] {
            let pw = try PointwiseConv2D(inputChannels: cin, outputChannels: cout, bias: true, algorithm: algorithm)
            randomize(pw.weight, seed: 21)
            randomize(pw.bias!, seed: 22)
            let x = Tensor.random([2, 5, 3, cin], seed: 23), dy = Tensor.random([2, 5, 3, cout], seed: 24)
            let y = try pw.forward(x)
            #expect(pw.path == (algorithm == .direct ? .direct : .gemm))
            let ref = referenceConv(
                x, weight: Array(pw.weight.value.buffer), bias: Array(pw.bias!.value.buffer),
                outputChannels: cout, kernel: 1, stride: 1, padding: 0)
            let dx = try pw.backward(dy, input: x, output: y)
            let grads = referenceConvBackward(x, weight: Array(pw.weight.value.buffer), dy: dy, kernel: 1, stride: 1, padding: 0)
            #expect(
                relativeError(y.scalars, ref.values) <= 1e-5 && relativeError(dx.scalars, grads.dx) <= 1e-5
                    && relativeError(Array(pw.weight.gradient.buffer), grads.dweight) <= 1e-5, "\(algorithm) \(cin)→\(cout)")
        }
    }

    @Test func issuesExactlyOneSgemmPerPassForTheWholeBatch() throws {
        let pw = try make(cin: 19, cout: 11, bias: true)
        let x = Tensor.random([4, 5, 3, 19], seed: 24)
        let forwardTrace = GemmTrace(), backwardTrace = GemmTrace(), inputlessTrace = GemmTrace()
        let y = try GemmTrace.$current.withValue(forwardTrace) { try pw.forward(x) }
        #expect(forwardTrace.calls == [GemmTrace.Call(m: 4 * 5 * 3, n: 11, k: 19, transposeB: true)])
        _ = try GemmTrace.$current.withValue(backwardTrace) { try pw.backward(y, input: x, output: y) }
        // dW = dYᵀ·X and dX = dY·W: one sgemm each.
        #expect(
            backwardTrace.calls == [GemmTrace.Call(m: 11, n: 19, k: 60, transposeA: true), GemmTrace.Call(m: 60, n: 19, k: 11)])
        // Without an input gradient (first layer), only dW.
        try GemmTrace.$current.withValue(inputlessTrace) {
            var (ys, xs) = (y.scalars, x.scalars)
            try ys.withUnsafeMutableBufferPointer { yp in
                try xs.withUnsafeMutableBufferPointer { xp in
                    let yv = TensorView(shape: y.shape, data: yp.baseAddress!),
                        xv = TensorView(shape: x.shape, data: xp.baseAddress!)
                    try pw.backward(yv, input: xv, output: yv, into: nil, context: ExecutionContext())
                }
            }
        }
        #expect(inputlessTrace.calls.count == 1)
    }

    /// A product large enough to be cut into bands, and each band into chunks that the epilogue
    /// follows (`BLAS.epilogueChunk`): the output is the naive loop's, on one thread or two alike,
    /// and evaluation with the batch norm after the layer folded in gives the bits of the layers'
    /// own passes.
    @Test func chunkedForwardMatchesTheNaiveLoopAndTakesTheBatchNormFold() throws {
        let shape = [10, 64, 64, 16], rows = 10 * 64 * 64
        let partition = BLAS.partition(m: rows, n: 16, k: 16, transposeA: false)
        #expect(partition.byRows && partition.bands > 1 && rows / partition.bands > BLAS.epilogueChunk(n: 16, k: 16))
        func layers() throws -> (PointwiseConv2D, BatchNorm) {
            let pw = try make(cin: 16, cout: 16, bias: true), bn = try BatchNorm(channels: 16)
            for (i, p) in bn.parameters.enumerated() { randomize(p, seed: 27 + UInt64(i), scale: 2) }
            for c in 0..<16 { bn.runningVariance.value.data[c] = abs(bn.runningVariance.value.data[c]) + 0.5 }
            return (pw, bn)
        }
        let x = Tensor.random(shape, seed: 28)
        let (pw, bn) = try layers()
        let context = ExecutionContext(isTraining: false)
        let y = try Parallel.withThreadCount(1) { try pw.forward(x, context: context) }
        #expect(try Parallel.withThreadCount(2) { try pw.forward(x, context: context) }.scalars == y.scalars)
        let ref = referenceConv(
            x, weight: Array(pw.weight.value.buffer), bias: pw.bias.map { Array($0.value.buffer) },
            outputChannels: 16, kernel: 1, stride: 1, padding: 0)
        #expect(relativeError(y.scalars, ref.values) <= 1e-5)
        #expect(bn.absorb(ReLU()))
        let z = try bn.forward(y, context: context)

        let (folded, foldedNorm) = try layers()
        let network = try Sequential(
            [.init("0", folded), .init("1", foldedNorm), .init("2", ReLU())], itemShape: try Shape([64, 64, 16]),
            maxBatchSize: 10)
        network.eval()
        try network.input.copy(from: x)
        try network.forward()
        #expect(Array(network.output.buffer) == z.scalars)
    }

    @Test func matchesPyTorch() throws {
        let pw = try PointwiseConv2D(inputChannels: 19, outputChannels: 11, bias: true)
        for (tensor, error) in try checkAgainstFixture("pointwise", layer: pw) {
            #expect(error <= 1e-4, "pointwise \(tensor): relative error \(error)")
        }
    }

    @Test func rejectsChannelMismatch() throws {
        let pw = try PointwiseConv2D(inputChannels: 8, outputChannels: 4)
        #expect(throws: EngineError.self) { try pw.prepare(for: .nhwc(2, 3, 3, 9)) }
        #expect(throws: EngineError.self) { try PointwiseConv2D(inputChannels: 8, outputChannels: 0) }
    }
}
