import Foundation
import Testing

@testable import ConvEngine

@Suite struct BLASTests {
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gemmDerivesLeadingDimensionsFromTransposeFlags(_ flags: (transposeA: Bool, transposeB: Bool)) {
        let (m, n, k) = (5, 7, 3)
        var g = RandomGenerator(seed: 9)
        let a = (0..<(m * k)).map { _ in g.nextUniform() }, b = (0..<(k * n)).map { _ in g.nextUniform() }
        var c = (0..<(m * n)).map { _ in g.nextUniform() }
        // op(A)[i, l] and op(B)[l, j] from their stored layouts.
        func opA(_ i: Int, _ l: Int) -> Double { Double(flags.transposeA ? a[l * m + i] : a[i * k + l]) }
        func opB(_ l: Int, _ j: Int) -> Double { Double(flags.transposeB ? b[j * k + l] : b[l * n + j]) }
        let expected = (0..<(m * n)).map { idx -> Double in
            let (i, j) = (idx / n, idx % n)
            return 2 * (0..<k).reduce(0.0) { $0 + opA(i, $1) * opB($1, j) } + 0.5 * Double(c[idx])
        }
        c.withUnsafeMutableBufferPointer { cp in
            BLAS.gemm(
                transposeA: flags.transposeA, transposeB: flags.transposeB, m: m, n: n, k: k, alpha: 2,
                a: a, b: b, beta: 0.5, c: cp.baseAddress!)
        }
        #expect(relativeError(c, expected) <= 1e-6)
    }

    /// A product with an epilogue (bias, then ReLU) gives the naive result whether its rows are cut
    /// into chunks (A as stored) or not (A transposed, which chunks of rows could not address), on
    /// shapes of more rows than one chunk holds.
    @Test(arguments: [false, true])
    func gemmAppliesTheEpilogueToEveryRow(transposeA: Bool) {
        let (m, n, k) = (5000, 16, 8)
        #expect(m > BLAS.epilogueChunk(n: n, k: k))
        var g = RandomGenerator(seed: 10)
        let a = (0..<(m * k)).map { _ in 2 * g.nextUniform() - 1 }, b = (0..<(k * n)).map { _ in 2 * g.nextUniform() - 1 }
        let bias = (0..<n).map { _ in 2 * g.nextUniform() - 1 }
        var c = [Float](repeating: .nan, count: m * n)
        let expected = (0..<(m * n)).map { idx -> Double in
            let (i, j) = (idx / n, idx % n)
            let sum = (0..<k).reduce(0.0) { $0 + Double(transposeA ? a[$1 * m + i] : a[i * k + $1]) * Double(b[$1 * n + j]) }
            return max(0, sum + Double(bias[j]))
        }
        bias.withUnsafeBufferPointer { biasPointer in
            c.withUnsafeMutableBufferPointer { cp in
                BLAS.gemm(
                    transposeA: transposeA, m: m, n: n, k: k, a: a, b: b, c: cp.baseAddress!, onThisThread: false,
                    epilogue: GemmEpilogue(bias: biasPointer.baseAddress, cap: .infinity, affine: nil))
            }
        }
        #expect(relativeError(c, expected) <= 1e-5)
    }

    /// A product of one row (a fully connected layer on one image) goes to `sgemv` in bands of
    /// columns: the naive result with either layout of B, alpha and beta, and the same bits on one
    /// thread or two.
    @Test(arguments: [false, true])
    func oneRowProductsMatchTheNaiveLoopInBandsOfColumns(transposeB: Bool) {
        let (n, k) = (1000, 1024)
        let (bands, byRows) = BLAS.partition(m: 1, n: n, k: k, transposeA: false)
        #expect(bands > 1 && !byRows)
        var g = RandomGenerator(seed: 11)
        let a = (0..<k).map { _ in 2 * g.nextUniform() - 1 }, b = (0..<(k * n)).map { _ in 2 * g.nextUniform() - 1 }
        let c0 = (0..<n).map { _ in 2 * g.nextUniform() - 1 }
        let expected = (0..<n).map { j -> Double in
            let sum = (0..<k).reduce(0.0) { $0 + Double(a[$1]) * Double(transposeB ? b[j * k + $1] : b[$1 * n + j]) }
            return 2 * sum + 0.5 * Double(c0[j])
        }
        var runs: [[Float]] = []
        for threads in [1, 2] {
            var c = c0
            Parallel.withThreadCount(threads) {
                c.withUnsafeMutableBufferPointer { cp in
                    BLAS.gemm(transposeB: transposeB, m: 1, n: n, k: k, alpha: 2, a: a, b: b, beta: 0.5, c: cp.baseAddress!)
                }
            }
            runs.append(c)
        }
        #expect(relativeError(runs[0], expected) <= 1e-5)
        #expect(runs[0] == runs[1])
    }

    /// A weight gradient over too few columns for two bands (24 input channels) is cut into slices
    /// of its inner extent instead: the naive result with either layout of B and any beta, the same
    /// bits on one thread or two, and the trace shows the slices.
    @Test(arguments: [(false, Float(0)), (true, Float(1)), (false, Float(0.5))])
    func narrowTransposedProductsAreCutIntoSlicesOfDepth(_ c: (transposeB: Bool, beta: Float)) {
        let (m, n, k) = (48, 24, 4099)
        #expect(BLAS.partition(m: m, n: n, k: k, transposeA: true).bands == 1)
        let slices = BLAS.depthSliceCount(m: m, n: n, k: k, transposeA: true)
        #expect(slices > 1 && BLAS.depthSliceCount(m: m, n: n, k: k, transposeA: false) == 1)
        var g = RandomGenerator(seed: 12)
        let a = (0..<(k * m)).map { _ in 2 * g.nextUniform() - 1 }, b = (0..<(k * n)).map { _ in 2 * g.nextUniform() - 1 }
        let c0 = (0..<(m * n)).map { _ in 2 * g.nextUniform() - 1 }
        let expected = (0..<(m * n)).map { idx -> Double in
            let (i, j) = (idx / n, idx % n)
            let sum = (0..<k).reduce(0.0) {
                $0 + Double(a[$1 * m + i]) * Double(c.transposeB ? b[j * k + $1] : b[$1 * n + j])
            }
            return 2 * sum + Double(c.beta) * Double(c0[idx])
        }
        let runs = onOneThreadAndTwo(
            from: c0, tracing: GemmTrace.Call(m: m, n: n, k: k, transposeA: true, transposeB: c.transposeB, bands: slices)
        ) {
            BLAS.gemm(transposeA: true, transposeB: c.transposeB, m: m, n: n, k: k, alpha: 2, a: a, b: b, beta: c.beta, c: $0)
        }
        #expect(relativeError(runs[0], expected) <= 1e-5)
        #expect(runs[0] == runs[1])
    }

    /// Weight gradients dYᵀ·X where `PanelGemm` transposes A (AVX-512 builds): cut into two bands of
    /// columns (C 64 × 40), or into slices of depth when C is too narrow for two (48 × 24). Each
    /// band's element is `PanelGemm`'s chain of fused multiply-adds over all of k, each slice's over
    /// its rows, the slices' sums added to C in slice order: the bits of those scalar loops, on one
    /// thread or two, and the naive result.
    @Test(arguments: [(64, 40, 4099), (48, 24, 4099)])
    func weightGradientsOnPanelGemmAreItsChains(_ shape: (m: Int, n: Int, k: Int)) {
        let (m, n, k) = shape
        let (bands, byRows) = BLAS.partition(m: m, n: n, k: k, transposeA: true)
        let slices = bands == 1 ? BLAS.depthSliceCount(m: m, n: n, k: k, transposeA: true) : 1
        #expect(bands == 2 ? !byRows : slices > 1)
        var g = RandomGenerator(seed: 17)
        let a = (0..<(k * m)).map { _ in 2 * g.nextUniform() - 1 }, b = (0..<(k * n)).map { _ in 2 * g.nextUniform() - 1 }
        let c0 = (0..<(m * n)).map { _ in 2 * g.nextUniform() - 1 }
        let runs = onOneThreadAndTwo(
            from: c0, tracing: GemmTrace.Call(m: m, n: n, k: k, transposeA: true, transposeB: false, bands: max(bands, slices))
        ) {
            BLAS.gemm(transposeA: true, m: m, n: n, k: k, a: a, b: b, beta: 1, c: $0)
        }
        #expect(differingElements(runs[0], runs[1]) == 0)
        let expected = (0..<(m * n)).map { idx -> Double in
            let (i, j) = (idx / n, idx % n)
            return Double(c0[idx]) + (0..<k).reduce(0.0) { $0 + Double(a[$1 * m + i]) * Double(b[$1 * n + j]) }
        }
        #expect(relativeError(runs[0], expected) <= 1e-5)
        guard PanelGemm.transposesA else { return }
        var chained = c0
        for slice in 0..<slices {
            let depth = Parallel.range(slice, of: slices, count: k)
            for idx in 0..<(m * n) {
                let (i, j) = (idx / n, idx % n)
                // One band: the chain starts from C; slices: from zero, then added to C.
                var sum: Float = slices == 1 ? chained[idx] : 0
                for l in depth { sum.addProduct(a[l * m + i], b[l * n + j]) }
                chained[idx] = slices == 1 ? sum : chained[idx] + sum
            }
        }
        #expect(differingElements(runs[0], chained) == 0)
    }

    /// A product of few rows per band (a 14×14 layer of one image, and the same at 25 images,
    /// deeper than one packed block) shares one packed B across its bands where the engine is built
    /// for AVX2 or AVX-512: the naive result with its epilogue, the same bits on one thread or two, and the
    /// bits of `PanelGemm` on one thread, whichever bands computed the rows.
    @Test(arguments: [(196, 256, 256, true), (4900, 72, 300, false)])
    func fewRowsPerBandShareOnePackedB(_ c: (m: Int, n: Int, k: Int, transposeB: Bool)) {
        let (bands, byRows) = BLAS.partition(m: c.m, n: c.n, k: c.k, transposeA: false)
        #expect(byRows && bands > 1 && c.m <= BLAS.sharedPackRows * bands)
        if PanelGemm.isEngineKernel {
            #expect(BLAS.sharesPackedB(m: c.m, bands: bands, byRows: byRows, transposeA: false, alpha: 1, beta: 0))
        }
        var g = RandomGenerator(seed: 15)
        let a = (0..<(c.m * c.k)).map { _ in 2 * g.nextUniform() - 1 }, b = (0..<(c.k * c.n)).map { _ in 2 * g.nextUniform() - 1 }
        let bias = (0..<c.n).map { _ in 2 * g.nextUniform() - 1 }
        func opB(_ l: Int, _ j: Int) -> Float { c.transposeB ? b[j * c.k + l] : b[l * c.n + j] }
        var runs: [[Float]] = []
        for threads in [1, 2] {
            var out = [Float](repeating: .nan, count: c.m * c.n)
            bias.withUnsafeBufferPointer { biasPointer in
                out.withUnsafeMutableBufferPointer { cp in
                    Parallel.withThreadCount(threads) {
                        BLAS.gemm(
                            transposeB: c.transposeB, m: c.m, n: c.n, k: c.k, a: a, b: b, c: cp.baseAddress!,
                            onThisThread: false,
                            epilogue: GemmEpilogue(bias: biasPointer.baseAddress, cap: .infinity, affine: nil))
                    }
                }
            }
            runs.append(out)
        }
        #expect(differingElements(runs[0], runs[1]) == 0)
        let expected = (0..<(c.m * c.n)).map { idx -> Double in
            let (i, j) = (idx / c.n, idx % c.n)
            return max(0, (0..<c.k).reduce(0.0) { $0 + Double(a[i * c.k + $1]) * Double(opB($1, j)) } + Double(bias[j]))
        }
        #expect(relativeError(runs[0], expected) <= 1e-5)
        if PanelGemm.isEngineKernel {
            var single = [Float](repeating: .nan, count: c.m * c.n)
            single.withUnsafeMutableBufferPointer { cp in
                PanelGemm.multiply(
                    transposeB: c.transposeB, m: c.m, n: c.n, k: c.k, a: a, lda: c.k, b: b, ldb: c.transposeB ? c.k : c.n,
                    c: cp.baseAddress!, ldc: c.n, accumulate: false)
            }
            for i in 0..<c.m { for j in 0..<c.n { single[i * c.n + j] = max(0, single[i * c.n + j] + bias[j]) } }
            #expect(differingElements(runs[0], single) == 0)
        }
    }

    /// A product on weights packed whole (a pointwise layer's evaluation pass) is cut as the same
    /// shape unpacked: by columns for a 7×7 layer of one image (runs of whole panels, the last one
    /// partial), by rows for a 14×14 one and a deeper one, one band for a small one and a single
    /// row. Each gives the naive result with its epilogue; the same bits packed ahead on one thread
    /// (a frozen layer) and packed by the call on two; and the bits of `PanelGemm` on one thread
    /// with B packed block by block.
    @Test(arguments: [(49, 1000, 300), (196, 256, 256), (3136, 40, 72), (20, 24, 16), (1, 120, 64)])
    func packedWeightsGiveTheBitsOfPanelGemmFrozenOrNot(_ c: (m: Int, n: Int, k: Int)) {
        guard PanelGemm.isEngineKernel else { return }
        var g = RandomGenerator(seed: 16)
        let a = (0..<(c.m * c.k)).map { _ in 2 * g.nextUniform() - 1 }, b = (0..<(c.n * c.k)).map { _ in 2 * g.nextUniform() - 1 }
        let bias = (0..<c.n).map { _ in 2 * g.nextUniform() - 1 }
        var runs: [[Float]] = []
        for threads in [1, 2] {
            var out = [Float](repeating: .nan, count: c.m * c.n)
            let trace = GemmTrace()
            bias.withUnsafeBufferPointer { biasPointer in
                out.withUnsafeMutableBufferPointer { cp in
                    Parallel.withThreadCount(threads) {
                        // Packed ahead on one thread, now on two: the same bits.
                        let weights = threads == 1 ? PackedWeights(transposeB: true, b, n: c.n, k: c.k) : nil
                        GemmTrace.$current.withValue(trace) {
                            BLAS.packedGemm(
                                transposeB: true, m: c.m, n: c.n, k: c.k, a: a, b: b, weights: weights, c: cp.baseAddress!,
                                epilogue: GemmEpilogue(bias: biasPointer.baseAddress, cap: .infinity, affine: nil))
                        }
                    }
                }
            }
            let bands = BLAS.partition(m: c.m, n: c.n, k: c.k, transposeA: false).bands
            #expect(trace.calls == [GemmTrace.Call(m: c.m, n: c.n, k: c.k, transposeB: true, bands: bands)])
            runs.append(out)
        }
        #expect(differingElements(runs[0], runs[1]) == 0)
        let expected = (0..<(c.m * c.n)).map { idx -> Double in
            let (i, j) = (idx / c.n, idx % c.n)
            return max(0, (0..<c.k).reduce(0.0) { $0 + Double(a[i * c.k + $1]) * Double(b[j * c.k + $1]) } + Double(bias[j]))
        }
        #expect(relativeError(runs[0], expected) <= 1e-5)
        var single = [Float](repeating: .nan, count: c.m * c.n)
        single.withUnsafeMutableBufferPointer { cp in
            PanelGemm.multiply(
                transposeB: true, m: c.m, n: c.n, k: c.k, a: a, lda: c.k, b: b, ldb: c.k, c: cp.baseAddress!, ldc: c.n,
                accumulate: false)
        }
        for i in 0..<c.m { for j in 0..<c.n { single[i * c.n + j] = max(0, single[i * c.n + j] + bias[j]) } }
        #expect(differingElements(runs[0], single) == 0)
    }

    /// The kernel set reported is OpenBLAS's choice, or the one the environment forces.
    @Test func reportsTheKernelSetTheEnvironmentChose() {
        #expect(!BLAS.coreName.isEmpty && BLAS.coreName != "unknown")
        if let forced = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"], !forced.isEmpty {
            #expect(
                BLAS.coreName.lowercased() == forced.lowercased(), "OPENBLAS_CORETYPE=\(forced), OpenBLAS runs \(BLAS.coreName)")
        }
    }

    /// Thread counts are clamped to 1...maximumThreadCount, and a task's limit holds only inside it.
    @Test func threadCountsAreClampedAndScoped() {
        let outside = Parallel.threadCount
        #expect(outside >= 1 && outside <= Parallel.maximumThreadCount)
        Parallel.withThreadCount(0) { #expect(Parallel.currentThreadCount == 1) }
        Parallel.withThreadCount(1_000_000) { #expect(Parallel.currentThreadCount == Parallel.maximumThreadCount) }
        Parallel.withThreadCount(3) { #expect(Parallel.currentThreadCount == 3) }
        #expect(Parallel.threadCount == outside)
    }
}

/// C from `c0` after `product` on one thread, then on two, each traced as the one call `call`.
private func onOneThreadAndTwo(
    from c0: [Float], tracing call: GemmTrace.Call, _ product: (UnsafeMutablePointer<Float>) -> Void
) -> [[Float]] {
    [1, 2].map { threads in
        var out = c0
        let trace = GemmTrace()
        GemmTrace.$current.withValue(trace) {
            Parallel.withThreadCount(threads) { out.withUnsafeMutableBufferPointer { product($0.baseAddress!) } }
        }
        #expect(trace.calls == [call])
        return out
    }
}
