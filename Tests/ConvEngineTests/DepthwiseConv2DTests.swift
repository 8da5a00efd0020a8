import Testing

@testable import ConvEngine

@Suite struct DepthwiseConv2DTests {
    struct Case: CustomStringConvertible, Sendable {
        var n, h, w, c, k, s, p: Int
        var bias: Bool
        var description: String { "\(n)x\(h)x\(w)x\(c) k\(k) s\(s) p\(p)\(bias ? " bias" : "")" }
    }

    static let cases: [Case] = [
        Case(n: 2, h: 6, w: 5, c: 17, k: 3, s: 1, p: 1, bias: true),
        Case(n: 2, h: 9, w: 7, c: 12, k: 3, s: 2, p: 1, bias: false),
        Case(n: 3, h: 7, w: 8, c: 5, k: 3, s: 2, p: 0, bias: true),
        Case(n: 1, h: 6, w: 6, c: 3, k: 3, s: 1, p: 0, bias: false),
        Case(n: 2, h: 8, w: 5, c: 9, k: 5, s: 1, p: 2, bias: true),
        // 3×3 at stride 1 over whole vectors of 8 channels: an odd width, a width of 2 (every window
        // crosses an edge), no padding over 24 channels.
        Case(n: 2, h: 5, w: 7, c: 16, k: 3, s: 1, p: 1, bias: false),
        Case(n: 1, h: 4, w: 2, c: 8, k: 3, s: 1, p: 1, bias: true),
        Case(n: 2, h: 6, w: 9, c: 24, k: 3, s: 1, p: 0, bias: true),
    ]

    /// Every path through a pixel's channels: blocks of 32 then of 8 then single channels (40 and
    /// 45), many blocks of 32 (520), whole blocks of 32 without padding, long rows, and a strided
    /// window over 256 channels and more, which is added tap by tap. Windows inside the image go
    /// two pixels at a time: pairs at strides 1 and 2, and a 5×5 window whose five inside columns
    /// leave one pixel alone; blocks of 16, 8 and single channels in pairs (29), and 8 channels
    /// alone at stride 2.
    static let channelBlockCases: [Case] = [
        Case(n: 1, h: 5, w: 70, c: 40, k: 3, s: 1, p: 1, bias: true),
        Case(n: 1, h: 7, w: 9, c: 36, k: 5, s: 1, p: 2, bias: true),
        Case(n: 2, h: 6, w: 9, c: 29, k: 3, s: 1, p: 1, bias: true),
        Case(n: 1, h: 9, w: 11, c: 8, k: 3, s: 2, p: 1, bias: false),
        Case(n: 2, h: 3, w: 5, c: 520, k: 3, s: 1, p: 1, bias: false),
        Case(n: 1, h: 5, w: 70, c: 32, k: 3, s: 1, p: 0, bias: false),
        Case(n: 2, h: 7, w: 6, c: 45, k: 3, s: 2, p: 1, bias: true),
        Case(n: 2, h: 5, w: 6, c: 260, k: 3, s: 2, p: 1, bias: false),
    ]

    /// The forward pass's sum order, in Float: the bias (or 0), then x·w for each tap inside the image
    /// in the order ky, kx, each a product and then a sum, at every stride and on one image's row
    /// slices. A faster kernel must keep it (or say why not), since fixtures and resumed runs rely on
    /// the bits.
    @Test(arguments: cases + slicedCases.filter { $0.n == 1 } + channelBlockCases)
    func forwardSumsTheTapsInOrder(_ c: Case) throws {
        let dw = try make(c)
        let x = Tensor.random([c.n, c.h, c.w, c.c], seed: 18)
        let y = try dw.forward(x)
        let (xs, w, b) = (x.scalars, Array(dw.weight.value.buffer), dw.bias.map { Array($0.value.buffer) })
        let (ho, wo) = ((c.h + 2 * c.p - c.k) / c.s + 1, (c.w + 2 * c.p - c.k) / c.s + 1)
        var expected = [Float](repeating: 0, count: c.n * ho * wo * c.c)
        for n in 0..<c.n {
            for oy in 0..<ho {
                for ox in 0..<wo {
                    for ch in 0..<c.c {
                        var sum = b?[ch] ?? 0
                        for ky in 0..<c.k {
                            for kx in 0..<c.k {
                                let (iy, ix) = (oy * c.s - c.p + ky, ox * c.s - c.p + kx)
                                guard (0..<c.h).contains(iy), (0..<c.w).contains(ix) else { continue }
                                sum += xs[((n * c.h + iy) * c.w + ix) * c.c + ch] * w[(ky * c.k + kx) * c.c + ch]
                            }
                        }
                        expected[((n * ho + oy) * wo + ox) * c.c + ch] = sum
                    }
                }
            }
        }
        let differing = zip(y.scalars, expected).filter { $0 != $1 }.count
        #expect(differing == 0, "\(differing) of \(expected.count) outputs differ in their bits")
    }

    func make(_ c: Case) throws -> DepthwiseConv2D {
        let dw = try DepthwiseConv2D(channels: c.c, kernelSize: c.k, stride: c.s, padding: c.p, bias: c.bias)
        randomize(dw.weight, seed: 11)
        if let b = dw.bias { randomize(b, seed: 12) }
        return dw
    }

    @Test(arguments: cases)
    func forwardMatchesNaiveLoop(_ c: Case) throws {
        let dw = try make(c)
        let x = Tensor.random([c.n, c.h, c.w, c.c], seed: 13)
        let y = try dw.forward(x)
        let ref = referenceDepthwise(
            x, weight: Array(dw.weight.value.buffer), bias: dw.bias.map { Array($0.value.buffer) },
            kernel: c.k, stride: c.s, padding: c.p)
        #expect(y.shape.dimensions == ref.shape)
        #expect(relativeError(y.scalars, ref.values) <= 1e-5)
    }

    @Test(arguments: cases)
    func backwardMatchesFiniteDifferences(_ c: Case) throws {
        try checkGradients(of: make(c), input: .random([c.n, c.h, c.w, c.c], seed: 14))
    }

    /// Cases large enough to be cut into several slices run on several threads: of images, and of
    /// one image's output rows (the forward pass of a batch of one; the last two, a 7×7 layer over
    /// 520 channels and a strided one over 260, in slices only since the forward pass's are finer
    /// than the backward's).
    static let slicedCases: [Case] = [
        Case(n: 8, h: 24, w: 24, c: 32, k: 3, s: 1, p: 1, bias: true),
        Case(n: 8, h: 40, w: 40, c: 32, k: 3, s: 2, p: 1, bias: false),
        Case(n: 1, h: 64, w: 60, c: 32, k: 3, s: 1, p: 1, bias: true),
        Case(n: 1, h: 96, w: 90, c: 32, k: 3, s: 2, p: 1, bias: false),
        Case(n: 1, h: 61, w: 37, c: 40, k: 3, s: 1, p: 0, bias: false),
        Case(n: 1, h: 7, w: 7, c: 520, k: 3, s: 1, p: 1, bias: true),
        Case(n: 1, h: 28, w: 28, c: 260, k: 3, s: 2, p: 1, bias: false),
    ]

    /// One forward and backward pass of case `c` (stride 1) on random x (`seed`) and dy (`seed + 1`):
    /// the layer, both tensors, dx, how the backward pass was cut, and the output's sides.
    func stride1Backward(_ c: Case, seed: UInt64) throws -> (
        layer: DepthwiseConv2D, x: Tensor, dy: Tensor, dx: Tensor, slices: (count: Int, byRows: Bool),
        outputHeight: Int, outputWidth: Int
    ) {
        let dw = try make(c)
        let x = Tensor.random([c.n, c.h, c.w, c.c], seed: seed)
        let y = try dw.forward(x)
        let slices = backwardSlices(try #require(dw.geometry))
        let dy = Tensor.random(y.shape.dimensions, seed: seed + 1)
        let dx = try dw.backward(dy, input: x, output: y)
        return (dw, x, dy, dx, slices, c.h + 2 * c.p - c.k + 1, c.w + 2 * c.p - c.k + 1)
    }

    /// At stride 1 the input gradient sums, in Float, each output row's taps in ascending output rows
    /// and tap columns, as scattering each output row into the input rows it reads would: gathered
    /// image by image (batches of several, 32/8/1-channel paths), or, for a batch of one, in slices
    /// of rows (`backwardSlices`), where odd sizes put slice boundaries anywhere.
    @Test(arguments: [
        Case(n: 1, h: 64, w: 60, c: 32, k: 3, s: 1, p: 1, bias: true),
        Case(n: 1, h: 61, w: 37, c: 40, k: 3, s: 1, p: 0, bias: false),
        Case(n: 1, h: 57, w: 35, c: 24, k: 5, s: 1, p: 2, bias: true),
        Case(n: 3, h: 9, w: 7, c: 45, k: 3, s: 1, p: 1, bias: false),
        Case(n: 2, h: 6, w: 5, c: 17, k: 3, s: 1, p: 0, bias: true),
        Case(n: 2, h: 8, w: 5, c: 9, k: 5, s: 1, p: 2, bias: true),
    ])
    func backwardSumsTheInputGradientInOrder(_ c: Case) throws {
        let pass = try stride1Backward(c, seed: 19)
        #expect(pass.slices.byRows == (c.n == 1))
        let (dx, ho, wo) = (pass.dx, pass.outputHeight, pass.outputWidth)
        let (d, w) = (pass.dy.scalars, Array(pass.layer.weight.value.buffer))
        var expected = [Float](repeating: 0, count: pass.x.scalars.count)
        for n in 0..<c.n {
            for oy in 0..<ho {
                for ky in 0..<c.k {
                    let iy = oy - c.p + ky
                    guard (0..<c.h).contains(iy) else { continue }
                    for kx in 0..<c.k {
                        for ox in 0..<wo {
                            let ix = ox - c.p + kx
                            guard (0..<c.w).contains(ix) else { continue }
                            for ch in 0..<c.c {
                                expected[((n * c.h + iy) * c.w + ix) * c.c + ch] +=
                                    d[((n * ho + oy) * wo + ox) * c.c + ch] * w[(ky * c.k + kx) * c.c + ch]
                            }
                        }
                    }
                }
            }
        }
        let differing = zip(dx.scalars, expected).filter { $0 != $1 }.count
        #expect(differing == 0, "\(differing) of \(expected.count) input-gradient floats differ in their bits")
    }

    /// At stride 1, in a pass of one slice, the weight gradient sums in Float each tap's products
    /// per output column over the images and output rows in order, then adds the columns in order
    /// to dw (which starts at 0): the order the fixtures and resumed runs hold, over channel counts
    /// of whole and partial vectors, a batch of one and of several, and a 5×5 window.
    @Test(arguments: [
        Case(n: 2, h: 7, w: 6, c: 45, k: 3, s: 1, p: 1, bias: true),
        Case(n: 3, h: 5, w: 9, c: 17, k: 3, s: 1, p: 0, bias: false),
        Case(n: 1, h: 6, w: 5, c: 8, k: 3, s: 1, p: 1, bias: false),
        Case(n: 2, h: 8, w: 5, c: 9, k: 5, s: 1, p: 2, bias: true),
    ])
    func weightGradientSumsEachColumnInOrder(_ c: Case) throws {
        let pass = try stride1Backward(c, seed: 21)
        #expect(pass.slices.count == 1)
        let (dw, ho, wo) = (pass.layer, pass.outputHeight, pass.outputWidth)
        let (d, xs) = (pass.dy.scalars, pass.x.scalars)
        var expected = [Float](repeating: 0, count: c.k * c.k * c.c)
        for ky in 0..<c.k {
            for kx in 0..<c.k {
                for ch in 0..<c.c {
                    var total: Float = 0
                    for ox in 0..<wo {
                        let ix = ox - c.p + kx
                        guard (0..<c.w).contains(ix) else { continue }
                        var column: Float = 0
                        for n in 0..<c.n {
                            for oy in 0..<ho {
                                let iy = oy - c.p + ky
                                guard (0..<c.h).contains(iy) else { continue }
                                column += d[((n * ho + oy) * wo + ox) * c.c + ch] * xs[((n * c.h + iy) * c.w + ix) * c.c + ch]
                            }
                        }
                        total += column
                    }
                    expected[(ky * c.k + kx) * c.c + ch] = total
                }
            }
        }
        let differing = zip(Array(dw.weight.gradient.buffer), expected).filter { $0 != $1 }.count
        #expect(differing == 0, "\(differing) of \(expected.count) weight-gradient floats differ in their bits")
    }

    /// The sliced passes agree with the naive loops, and give the same bits on one thread or two.
    @Test(arguments: slicedCases)
    func slicedPassesMatchNaiveLoopsOnAnyThreadCount(_ c: Case) throws {
        let x = Tensor.random([c.n, c.h, c.w, c.c], seed: 16)
        var results: [(y: Tensor, dx: Tensor, dweight: [Float], dbias: [Float]?)] = []
        for threads in [1, 2] {
            let dw = try make(c)
            let (y, dx) = try Parallel.withThreadCount(threads) {
                let y = try dw.forward(x)
                return (y, try dw.backward(Tensor.random(y.shape.dimensions, seed: 17), input: x, output: y))
            }
            results.append((y, dx, Array(dw.weight.gradient.buffer), dw.bias.map { Array($0.gradient.buffer) }))
        }
        let dw = try make(c)
        _ = try dw.forward(x)
        #expect(depthwiseForwardSlices(try #require(dw.geometry)) > 1)
        let ref = referenceDepthwise(
            x, weight: Array(dw.weight.value.buffer), bias: dw.bias.map { Array($0.value.buffer) },
            kernel: c.k, stride: c.s, padding: c.p)
        let dy = Tensor.random(ref.shape, seed: 17)
        let grads = referenceDepthwiseBackward(
            x, weight: Array(dw.weight.value.buffer), dy: dy, kernel: c.k, stride: c.s, padding: c.p)
        #expect(relativeError(results[0].y.scalars, ref.values) <= 1e-5)
        #expect(relativeError(results[0].dx.scalars, grads.dx) <= 1e-5)
        #expect(relativeError(results[0].dweight, grads.dweight) <= 1e-5)
        if let dbias = results[0].dbias { #expect(relativeError(dbias, grads.dbias) <= 1e-5) }
        #expect(results[0].y.scalars == results[1].y.scalars)
        #expect(results[0].dx.scalars == results[1].dx.scalars)
        #expect(results[0].dweight == results[1].dweight)
        #expect(results[0].dbias == results[1].dbias)
    }

    @Test func issuesNoGEMM() throws {
        let dw = try make(Self.cases[0])
        let x = Tensor.random([2, 6, 5, 17], seed: 15)
        let trace = GemmTrace()
        try GemmTrace.$current.withValue(trace) {
            let y = try dw.forward(x)
            _ = try dw.backward(y, input: x, output: y)
        }
        #expect(trace.calls.isEmpty)
    }

    @Test func matchesPyTorchAtStrideOne() throws {
        let dw = try DepthwiseConv2D(channels: 17, kernelSize: 3, stride: 1, padding: 1, bias: true)
        for (tensor, error) in try checkAgainstFixture("depthwise_s1", layer: dw) {
            #expect(error <= 1e-4, "depthwise_s1 \(tensor): relative error \(error)")
        }
    }

    @Test func matchesPyTorchAtStrideTwo() throws {
        let dw = try DepthwiseConv2D(channels: 12, kernelSize: 3, stride: 2, padding: 1, bias: false)
        for (tensor, error) in try checkAgainstFixture("depthwise_s2", layer: dw) {
            #expect(error <= 1e-4, "depthwise_s2 \(tensor): relative error \(error)")
        }
    }

    @Test func rejectsBadHyperParametersAndShapes() throws {
        #expect(throws: EngineError.self) { try DepthwiseConv2D(channels: 8, stride: 0) }
        #expect(throws: EngineError.self) { try DepthwiseConv2D(channels: -2) }
        let dw = try DepthwiseConv2D(channels: 8, kernelSize: 3, padding: 0)
        #expect(throws: EngineError.self) { try dw.prepare(for: .nhwc(1, 2, 2, 8)) }
        #expect(throws: EngineError.self) { try dw.prepare(for: .nhwc(1, 5, 5, 7)) }
        #expect(throws: EngineError.self) { try dw.prepare(for: Shape([4, 8])) }
    }
}
