import Testing

@testable import ConvEngine

@Suite struct Conv2DTests {
    /// The path a case is meant to take under `auto` (im2col cut into per-slice blocks or whole-batch
    /// chunks, with the chunk's images for Winograd when it matters).
    enum Expected: Hashable, Sendable {
        case direct
        case winograd(chunkImages: Int? = nil)
        case sliced, chunked
    }

    struct Case: CustomStringConvertible, Sendable {
        var n, h, w, cin, cout, k, s, p: Int
        var bias = true
        var maxColumnFloats = Conv2D.defaultMaxColumnFloats
        var path: Expected
        var description: String { "\(n)x\(h)x\(w)x\(cin)→\(cout) k\(k) s\(s) p\(p)\(bias ? " bias" : "") cap \(maxColumnFloats)" }
    }

    static let cases: [Case] = [
        Case(n: 2, h: 7, w: 6, cin: 5, cout: 7, k: 3, s: 1, p: 1, path: .chunked),
        Case(n: 3, h: 9, w: 8, cin: 3, cout: 10, k: 3, s: 2, p: 0, bias: false, path: .direct),
        Case(n: 2, h: 8, w: 5, cin: 6, cout: 4, k: 3, s: 2, p: 1, path: .chunked),
        Case(n: 2, h: 11, w: 8, cin: 4, cout: 9, k: 5, s: 2, p: 2, path: .direct),
        Case(n: 2, h: 5, w: 3, cin: 17, cout: 6, k: 1, s: 1, p: 0, path: .chunked),
        // 32 and 16 input channels at stride 1: the direct kernels, dx through the flipped filters
        // (with 16, six pixels of 16 at a time).
        Case(n: 2, h: 4, w: 5, cin: 32, cout: 9, k: 3, s: 1, p: 1, path: .direct),
        Case(n: 2, h: 3, w: 9, cin: 16, cout: 16, k: 3, s: 1, p: 1, path: .direct),
        // 64 input channels, 3×3 at stride 1: Winograd, with a tile past the edge down and across.
        Case(n: 2, h: 3, w: 5, cin: 64, cout: 5, k: 3, s: 1, p: 1, path: .winograd()),
        // A cap of one image's columns forces one GEMM per image.
        Case(n: 3, h: 6, w: 7, cin: 5, cout: 3, k: 3, s: 1, p: 1, maxColumnFloats: 6 * 7 * 45, path: .chunked),
    ]

    func make(_ c: Case) throws -> Conv2D {
        let conv = try Conv2D(
            inputChannels: c.cin, outputChannels: c.cout, kernelSize: c.k, stride: c.s,
            padding: c.p, bias: c.bias, maxColumnFloats: c.maxColumnFloats)
        randomize(conv.weight, seed: 1)
        if let b = conv.bias { randomize(b, seed: 2) }
        return conv
    }

    @Test(arguments: cases)
    func forwardMatchesNaiveLoop(_ c: Case) throws {
        let conv = try make(c)
        let x = Tensor.random([c.n, c.h, c.w, c.cin], seed: 3)
        let y = try conv.forward(x)
        let ref = referenceConv(
            x, weight: Array(conv.weight.value.buffer), bias: conv.bias.map { Array($0.value.buffer) },
            outputChannels: c.cout, kernel: c.k, stride: c.s, padding: c.p)
        #expect(y.shape.dimensions == ref.shape)
        #expect(relativeError(y.scalars, ref.values) <= 1e-5)
    }

    @Test(arguments: cases)
    func backwardMatchesFiniteDifferences(_ c: Case) throws {
        try checkGradients(of: make(c), input: .random([c.n, c.h, c.w, c.cin], seed: 4))
    }

    /// Convolutions large enough to be cut into several slices (of images; the direct forward pass into
    /// output rows, so a batch of one is cut too): RGB stems and 16 to 128 channels at
    /// stride 1 (direct kernels), 8→32 at stride 1, 32→24 at stride 2 and a 1×1 (column blocks per
    /// slice, weight-gradient partials), and deep
    /// layers whose weights are too large for partials (chunks, GEMMs in bands). The naive results,
    /// and the same bits on one thread or two.
    static let largeCases: [Case] = [
        Case(n: 8, h: 32, w: 32, cin: 3, cout: 32, k: 3, s: 1, p: 1, path: .direct),
        Case(n: 8, h: 32, w: 32, cin: 3, cout: 32, k: 3, s: 2, p: 1, path: .direct),
        // One image alone, its forward pass cut into slices of output rows: an ImageNet-like stem at
        // stride 2, and 32 channels at stride 1.
        Case(n: 1, h: 64, w: 63, cin: 3, cout: 32, k: 3, s: 2, p: 1, path: .direct),
        Case(n: 1, h: 24, w: 23, cin: 32, cout: 32, k: 3, s: 1, p: 1, path: .direct),
        // Odd widths, a 5×5 window with padding 2, 40 outputs (a block of 32 and 8 more).
        Case(n: 6, h: 13, w: 11, cin: 3, cout: 40, k: 5, s: 1, p: 2, path: .direct),
        Case(n: 6, h: 13, w: 15, cin: 4, cout: 40, k: 5, s: 2, p: 2, path: .direct),
        // MobileNet 0.5's stem: 16 outputs, two registers of eight and no block of 32; and 13 = 8 + 5.
        Case(n: 8, h: 32, w: 32, cin: 3, cout: 16, k: 3, s: 1, p: 1, path: .direct),
        Case(n: 8, h: 17, w: 15, cin: 3, cout: 13, k: 3, s: 2, p: 1, path: .direct),
        // 32 channels at stride 1 (direct, dx by the forward kernel over the flipped filters): SeedNet
        // baseline's layer; 40 outputs at an odd width; no padding (dy padded by 2 for dx); 64 outputs.
        Case(n: 8, h: 16, w: 16, cin: 32, cout: 32, k: 3, s: 1, p: 1, path: .direct),
        Case(n: 5, h: 9, w: 11, cin: 32, cout: 40, k: 3, s: 1, p: 1, path: .direct),
        Case(n: 5, h: 10, w: 9, cin: 32, cout: 32, k: 3, s: 1, p: 0, path: .direct),
        Case(n: 3, h: 8, w: 8, cin: 32, cout: 64, k: 3, s: 1, p: 1, path: .direct),
        // 128 channels (Winograd, ahead of direct), and a 5×5 window over 32 (direct).
        Case(n: 3, h: 6, w: 7, cin: 128, cout: 48, k: 3, s: 1, p: 1, path: .winograd()),
        Case(n: 3, h: 9, w: 10, cin: 32, cout: 32, k: 5, s: 1, p: 2, path: .direct),
        // 16 channels: dx has six pixels of 16 outputs at a time (MobileNet 0.5 baseline's 16→32).
        Case(n: 8, h: 16, w: 16, cin: 16, cout: 32, k: 3, s: 1, p: 1, path: .direct),
        // 24 outputs (six pixels of 16, then pairs of 8) and 13 (8 + 5), odd widths.
        Case(n: 4, h: 9, w: 13, cin: 16, cout: 24, k: 3, s: 1, p: 1, path: .direct),
        Case(n: 4, h: 7, w: 11, cin: 16, cout: 13, k: 3, s: 1, p: 1, path: .direct),
        Case(n: 8, h: 16, w: 16, cin: 8, cout: 32, k: 3, s: 1, p: 1, path: .sliced),
        Case(n: 9, h: 16, w: 15, cin: 32, cout: 24, k: 3, s: 2, p: 1, path: .sliced),
        Case(n: 8, h: 16, w: 16, cin: 64, cout: 64, k: 1, s: 1, p: 0, path: .sliced),
        // Winograd: odd sizes (tiles past the edge), padding 0 and 2 (dx's window then pads 2 and 0).
        Case(n: 3, h: 10, w: 9, cin: 64, cout: 48, k: 3, s: 1, p: 1, path: .winograd()),
        Case(n: 2, h: 7, w: 8, cin: 64, cout: 64, k: 3, s: 1, p: 0, path: .winograd()),
        Case(n: 2, h: 4, w: 5, cin: 72, cout: 16, k: 3, s: 1, p: 2, path: .winograd()),
        // A cap that leaves room for two images' tiles: chunks of 2, 2 and 1.
        Case(n: 5, h: 6, w: 6, cin: 64, cout: 32, k: 3, s: 1, p: 1, maxColumnFloats: 60480, path: .winograd(chunkImages: 2)),
        Case(n: 4, h: 2, w: 2, cin: 512, cout: 1024, k: 3, s: 1, p: 1, path: .winograd()),
        Case(n: 4, h: 4, w: 4, cin: 512, cout: 1024, k: 3, s: 2, p: 1, path: .chunked),
    ]

    @Test(arguments: largeCases)
    func largeConvolutionsMatchNaiveLoopsOnAnyThreadCount(_ c: Case) throws {
        let x = Tensor.random([c.n, c.h, c.w, c.cin], seed: 6)
        var runs: [(y: [Float], dx: [Float], dweight: [Float], dbias: [Float])] = []
        for threads in [1, 2] {
            let conv = try make(c)
            try Parallel.withThreadCount(threads) {
                let y = try conv.forward(x)
                let dx = try conv.backward(Tensor.random(y.shape.dimensions, seed: 7), input: x, output: y)
                runs.append((y.scalars, dx.scalars, Array(conv.weight.gradient.buffer), Array(conv.bias!.gradient.buffer)))
            }
        }
        let conv = try make(c)
        let ref = referenceConv(
            x, weight: Array(conv.weight.value.buffer), bias: Array(conv.bias!.value.buffer),
            outputChannels: c.cout, kernel: c.k, stride: c.s, padding: c.p)
        let grads = referenceConvBackward(
            x, weight: Array(conv.weight.value.buffer), dy: Tensor.random(ref.shape, seed: 7),
            kernel: c.k, stride: c.s, padding: c.p)
        #expect(relativeError(runs[0].y, ref.values) <= 1e-5)
        #expect(relativeError(runs[0].dx, grads.dx) <= 1e-5)
        #expect(relativeError(runs[0].dweight, grads.dweight) <= 1e-5)
        #expect(runs[0].y == runs[1].y && runs[0].dx == runs[1].dx)
        #expect(runs[0].dweight == runs[1].dweight && runs[0].dbias == runs[1].dbias)
    }

    /// Every case above takes the path it states (under `auto`), so each path's tests test it.
    @Test(arguments: cases + largeCases)
    func everyCaseTakesThePathItStates(_ c: Case) throws {
        let g = try WindowGeometry(input: .nhwc(c.n, c.h, c.w, c.cin), kernel: c.k, stride: c.s, padding: c.p, role: "conv")
        let actual: Expected
        switch ConvolutionPolicy.plan(g, outputChannels: c.cout, algorithm: .auto, maxColumnFloats: c.maxColumnFloats) {
        case .direct: actual = .direct
        case .winograd(let plan): actual = .winograd(chunkImages: c.path == .winograd() ? nil : plan.chunkImages)
        case .column(let plan): actual = plan.isSliced ? .sliced : .chunked
        }
        #expect(actual == c.path)
        let conv = try make(c)
        _ = try conv.prepare(for: .nhwc(c.n, c.h, c.w, c.cin))
        #expect(conv.path == [.direct: .direct, .sliced: .im2col, .chunked: .im2col][c.path] ?? .winograd)
    }

    /// A forced algorithm runs wherever it applies (else im2row + GEMM) and gives the naive loop's
    /// results and gradients, on strides, paddings and channel counts of every kind.
    @Test(arguments: [ConvolutionAlgorithm.im2col, .direct, .winograd])
    func forcedAlgorithmsMatchTheNaiveLoops(_ algorithm: ConvolutionAlgorithm) throws {
        for c in Self.cases + Self.largeCases.filter({ $0.cin <= 128 }) {
            let conv = try Conv2D(
                inputChannels: c.cin, outputChannels: c.cout, kernelSize: c.k, stride: c.s, padding: c.p,
                bias: c.bias, maxColumnFloats: c.maxColumnFloats, algorithm: algorithm)
            randomize(conv.weight, seed: 1)
            if let b = conv.bias { randomize(b, seed: 2) }
            let x = Tensor.random([c.n, c.h, c.w, c.cin], seed: 6)
            let y = try conv.forward(x)
            let applies: Bool
            switch algorithm {
            case .im2col, .auto: applies = true
            case .direct: applies = c.cin <= ConvolutionPolicy.stemChannels || (c.s == 1 && c.cin % 16 == 0)
            case .winograd: applies = c.k == 3 && c.s == 1
            }
            #expect(conv.path == (applies ? [.im2col: .im2col, .direct: .direct][algorithm] ?? .winograd : .im2col), "\(c)")
            let ref = referenceConv(
                x, weight: Array(conv.weight.value.buffer), bias: conv.bias.map { Array($0.value.buffer) },
                outputChannels: c.cout, kernel: c.k, stride: c.s, padding: c.p)
            #expect(relativeError(y.scalars, ref.values) <= 1e-5, "\(algorithm) \(c)")
            let dy = Tensor.random(ref.shape, seed: 7)
            let dx = try conv.backward(dy, input: x, output: y)
            let grads = referenceConvBackward(
                x, weight: Array(conv.weight.value.buffer), dy: dy, kernel: c.k, stride: c.s, padding: c.p)
            #expect(
                relativeError(dx.scalars, grads.dx) <= 1e-5
                    && relativeError(Array(conv.weight.gradient.buffer), grads.dweight) <= 1e-5,
                "\(algorithm) \(c)")
        }
    }

    /// Winograd's buffers keep within the column cap: in chunks of images, and past one image's
    /// buffers the layer takes another path (here, with 72 channels, the column path).
    @Test func winogradKeepsWithinTheColumnCap() throws {
        let g = try WindowGeometry(input: .nhwc(4, 8, 8, 72), kernel: 3, stride: 1, padding: 1, role: "conv")
        func path(cap: Int) -> Conv2D.Plan {
            ConvolutionPolicy.plan(g, outputChannels: 64, algorithm: .auto, maxColumnFloats: cap)
        }
        guard case .winograd(let whole) = path(cap: Conv2D.defaultMaxColumnFloats),
            case .winograd(let single) = path(cap: whole.minimumScratchCount)
        else {
            Issue.record("expected Winograd")
            return
        }
        #expect(whole.chunkImages == 4 && single.chunkImages == 1)
        #expect(single.scratchCount == whole.minimumScratchCount)
        guard case .column = path(cap: whole.minimumScratchCount - 1) else {
            Issue.record("expected the column path under a cap smaller than one image's Winograd buffers")
            return
        }
    }

    /// GemmTrace records only the products `BLAS.gemm` computes for the caller: none for the direct
    /// kernels, whose work is their own.
    @Test func directLayersIssueNoGEMM() throws {
        let conv = try make(Case(n: 2, h: 6, w: 6, cin: 32, cout: 8, k: 3, s: 1, p: 1, path: .direct))
        let x = Tensor.random([2, 6, 6, 32], seed: 8)
        let trace = GemmTrace()
        try GemmTrace.$current.withValue(trace) {
            let y = try conv.forward(x)
            _ = try conv.backward(y, input: x, output: y)
        }
        #expect(conv.path == .direct && trace.calls.isEmpty)
    }

    /// A cap of one image's columns: one GEMM per image, the same result as the whole batch at once.
    @Test func chunkingGivesTheSameResultAsOneGEMM() throws {
        var c = Case(n: 3, h: 6, w: 7, cin: 5, cout: 3, k: 3, s: 1, p: 1, maxColumnFloats: 6 * 7 * 45, path: .chunked)
        let chunked = try make(c)
        c.maxColumnFloats = Conv2D.defaultMaxColumnFloats
        let single = try make(c)
        let x = Tensor.random([c.n, c.h, c.w, c.cin], seed: 5)
        let trace = GemmTrace()
        let y1 = try GemmTrace.$current.withValue(trace) { try chunked.forward(x) }
        #expect(trace.calls.count == c.n)
        let y2 = try single.forward(x)
        #expect(relativeError(y1.scalars, y2.scalars) <= 1e-6)
    }

    @Test(arguments: ["conv3x3_s1", "conv3x3_s2"])
    func matchesPyTorch(_ name: String) throws {
        let stride = name.hasSuffix("s2") ? 2 : 1
        let (cin, cout) = stride == 1 ? (5, 7) : (3, 10)
        let conv = try Conv2D(inputChannels: cin, outputChannels: cout, kernelSize: 3, stride: stride, padding: 1)
        for (tensor, error) in try checkAgainstFixture(name, layer: conv) {
            #expect(error <= 1e-4, "\(name) \(tensor): relative error \(error)")
        }
    }

    @Test func rejectsBadHyperParametersAndShapes() throws {
        #expect(throws: EngineError.self) { try Conv2D(inputChannels: 3, outputChannels: 8, kernelSize: 3, stride: -1) }
        #expect(throws: EngineError.self) { try Conv2D(inputChannels: 0, outputChannels: 8, kernelSize: 3) }
        #expect(throws: EngineError.self) { try Conv2D(inputChannels: 3, outputChannels: 8, kernelSize: 3, padding: -1) }
        let conv = try Conv2D(inputChannels: 3, outputChannels: 8, kernelSize: 5, padding: 0)
        // Kernel 5 over a 3×3 input without padding.
        #expect(throws: EngineError.shapeMismatch("conv: kernel 5×5 is larger than the padded input 3×3")) {
            try conv.prepare(for: .nhwc(1, 3, 3, 3))
        }
        // Channel mismatch.
        #expect(throws: EngineError.self) { try conv.prepare(for: .nhwc(1, 8, 8, 4)) }
        // A forward call with a shape other than the prepared one.
        _ = try conv.prepare(for: .nhwc(1, 8, 8, 3))
        let wrong = Tensor(shape: try .nhwc(2, 8, 8, 3))
        var scalars = wrong.scalars
        scalars.withUnsafeMutableBufferPointer { buffer in
            let view = TensorView(shape: wrong.shape, data: buffer.baseAddress!)
            #expect(throws: EngineError.self) { try conv.forward(view, into: view, context: ExecutionContext()) }
        }
    }
}

@Suite struct LayerViewTests {
    /// Views of the wrong shape are errors in every layer, never out-of-bounds reads or writes.
    @Test func everyLayerChecksItsViews() throws {
        let layers: [Layer] = [
            try Conv2D(inputChannels: 4, outputChannels: 6, kernelSize: 3, padding: 1), try DepthwiseConv2D(channels: 4),
            try PointwiseConv2D(inputChannels: 4, outputChannels: 6), try BatchNorm(channels: 4), ReLU(),
            try MaxPool2D(kernelSize: 2), try AvgPool2D(kernelSize: 2), GlobalAvgPool(), Flatten(), try Dropout(probability: 0.1),
        ]
        let input = try Shape.nhwc(2, 6, 6, 4)
        var buffer = [Float](repeating: 1, count: 4096)
        try buffer.withUnsafeMutableBufferPointer { memory in
            let base = memory.baseAddress!
            for layer in layers {
                let output = try layer.prepare(for: input)
                let x = TensorView(shape: input, data: base), y = TensorView(shape: output, data: base + 1024)
                let wrong = TensorView(shape: try .nhwc(1, 6, 6, 4), data: base + 2048)
                let context = ExecutionContext()
                context.workspace.reserve(layer.workspaceCount)
                try layer.forward(x, into: y, context: context)
                #expect(throws: EngineError.self, "\(layer.kind) y") { try layer.forward(x, into: wrong, context: context) }
                #expect(throws: EngineError.self, "\(layer.kind) x") { try layer.forward(wrong, into: y, context: context) }
                #expect(throws: EngineError.self, "\(layer.kind) dy") {
                    try layer.backward(wrong, input: x, output: y, into: nil, context: context)
                }
                #expect(throws: EngineError.self, "\(layer.kind) dx") {
                    try layer.backward(
                        y, input: x, output: y, into: TensorView(shape: output.withBatch(7), data: base + 3072), context: context)
                }
            }
            // A layer used before prepare(for:).
            #expect(throws: EngineError.self) {
                try Linear(inputFeatures: 3, outputFeatures: 2).forward(
                    TensorView(shape: try Shape([1, 3]), data: base), into: TensorView(shape: try Shape([1, 2]), data: base + 8),
                    context: ExecutionContext())
            }
        }
    }
}
