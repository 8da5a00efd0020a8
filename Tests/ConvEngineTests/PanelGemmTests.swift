import Testing

@testable import ConvEngine

/// The engine's own sgemm (`PanelGemm`) against the naive loop, and its promise that each element's
/// bits do not depend on how C is cut.
@Suite struct PanelGemmTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var m: Int, n: Int, k: Int, transposeB: Bool, accumulate: Bool, transposeA = false
        var testDescription: String {
            "\(transposeA ? "Aᵀ " : "")\(m)×\(n)×\(k)\(transposeB ? " Bᵀ" : "")\(accumulate ? " +=" : "")"
        }
    }

    /// Whole tiles and panels, one at a time or two side by side (AVX-512: n = 32, 48, 40); rows past
    /// the last tile (by eight rows, four, then one at a time: 12, 7, 17, 23, 30, 9, 10, 5); a
    /// partial panel (n = 24, 8, 13, 40); more columns than one packed block (200 > 128) and a deeper
    /// product than one (300 > 256); each with B in both layouts and C overwritten or added to. Where
    /// the build transposes A (AVX-512), some of them again with A stored `[k × m]`, as weight
    /// gradients are, and one deeper than several packed blocks (600).
    static let cases: [Case] =
        cases(
            [(12, 32, 16), (7, 16, 5), (17, 24, 64), (5, 8, 3), (23, 13, 128), (30, 200, 40), (9, 40, 300), (10, 48, 20)],
            transposeA: false)
        + (PanelGemm.transposesA
            ? cases([(12, 32, 16), (7, 16, 5), (17, 24, 64), (9, 40, 300), (10, 48, 20), (33, 40, 600)], transposeA: true) : [])

    static func cases(_ shapes: [(Int, Int, Int)], transposeA: Bool) -> [Case] {
        shapes.flatMap { m, n, k in
            [(false, false), (true, false), (false, true), (true, true)].map {
                Case(m: m, n: n, k: k, transposeB: $0.0, accumulate: $0.1, transposeA: transposeA)
            }
        }
    }

    @Test(arguments: cases)
    func multiplyMatchesTheNaiveLoop(_ c: Case) {
        // A and C with rows longer than they are used (lda = k + 3 or m + 3, ldc = n + 5), as bands see them.
        let (lda, ldc, ldb) = (c.transposeA ? c.m + 3 : c.k + 3, c.n + 5, c.transposeB ? c.k + 2 : c.n + 2)
        var g = RandomGenerator(seed: 12)
        let a = (0..<((c.transposeA ? c.k : c.m) * lda)).map { _ in 2 * g.nextUniform() - 1 }
        func opA(_ i: Int, _ l: Int) -> Float { c.transposeA ? a[l * lda + i] : a[i * lda + l] }
        let b = (0..<((c.transposeB ? c.n : c.k) * ldb)).map { _ in 2 * g.nextUniform() - 1 }
        let c0 = (0..<(c.m * ldc)).map { _ in 2 * g.nextUniform() - 1 }
        var out = c0
        out.withUnsafeMutableBufferPointer { cp in
            PanelGemm.multiply(
                transposeA: c.transposeA, transposeB: c.transposeB, m: c.m, n: c.n, k: c.k, a: a, lda: lda, b: b, ldb: ldb,
                c: cp.baseAddress!, ldc: ldc, accumulate: c.accumulate)
        }
        var expected = c0.map(Double.init)
        for i in 0..<c.m {
            for j in 0..<c.n {
                let sum = (0..<c.k).reduce(0.0) {
                    $0 + Double(opA(i, $1)) * Double(c.transposeB ? b[j * ldb + $1] : b[$1 * ldb + j])
                }
                expected[i * ldc + j] = (c.accumulate ? expected[i * ldc + j] : 0) + sum
            }
        }
        #expect(relativeError(out, expected) <= 1e-5)
        // Each element is the chain of fused multiply-adds over k in order: a scalar loop's bits,
        // whatever the tile, the panel or the build's vector width.
        var chains = 0
        for i in 0..<c.m {
            for j in 0..<c.n {
                var sum = c.accumulate ? c0[i * ldc + j] : 0
                for l in 0..<c.k { sum.addProduct(opA(i, l), c.transposeB ? b[j * ldb + l] : b[l * ldb + j]) }
                if sum.bitPattern != out[i * ldc + j].bitPattern { chains += 1 }
            }
        }
        #expect(chains == 0)
        // The floats between rows are never written.
        for i in 0..<c.m { #expect(out[(i * ldc + c.n)..<((i + 1) * ldc)] == c0[(i * ldc + c.n)..<((i + 1) * ldc)]) }
    }

    /// C computed whole, or as two bands of rows, or two bands of columns cut anywhere (not on a tile or
    /// panel boundary): the same bits.
    @Test func elementsHaveTheSameBitsHoweverCIsCut() {
        let (m, n, k) = (29, 45, 77)
        var g = RandomGenerator(seed: 13)
        let a = (0..<(m * k)).map { _ in 2 * g.nextUniform() - 1 }, b = (0..<(n * k)).map { _ in 2 * g.nextUniform() - 1 }
        func product(rowCut: Int, columnCut: Int) -> [Float] {
            var c = [Float](repeating: .nan, count: m * n)
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        for rows in [0..<rowCut, rowCut..<m] where !rows.isEmpty {
                            for columns in [0..<columnCut, columnCut..<n] where !columns.isEmpty {
                                PanelGemm.multiply(
                                    transposeB: true, m: rows.count, n: columns.count, k: k,
                                    a: ap.baseAddress! + rows.lowerBound * k, lda: k,
                                    b: bp.baseAddress! + columns.lowerBound * k, ldb: k,
                                    c: cp.baseAddress! + rows.lowerBound * n + columns.lowerBound, ldc: n, accumulate: false)
                            }
                        }
                    }
                }
            }
            return c
        }
        let whole = product(rowCut: m, columnCut: n)
        #expect(!whole.contains { $0.isNaN })
        #expect(product(rowCut: 13, columnCut: n) == whole)
        #expect(product(rowCut: m, columnCut: 21) == whole)
        #expect(product(rowCut: 4, columnCut: 35) == whole)
    }

    /// op(B) packed whole once (`packWhole`, in two runs of panels, as the threads pack it) and
    /// multiplied in chunks of rows: the same bits as `multiply` packing block by block, on shapes
    /// with several chunks of rows (k = 300 > 256 gives chunks of 108 rows), a partial last panel
    /// and more than one block of columns and of depth.
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func wholePackedBGivesTheBitsOfBlockByBlock(_ flags: (transposeB: Bool, accumulate: Bool)) {
        let (m, n, k) = (230, 200, 300)
        #expect(m > PanelGemm.chunkFloats / k && n % PanelGemm.panelColumns != 0)
        let (lda, ldb, ldc) = (k + 1, flags.transposeB ? k + 2 : n + 2, n + 3)
        var g = RandomGenerator(seed: 14)
        let a = (0..<(m * lda)).map { _ in 2 * g.nextUniform() - 1 }
        let b = (0..<((flags.transposeB ? n : k) * ldb)).map { _ in 2 * g.nextUniform() - 1 }
        let c0 = (0..<(m * ldc)).map { _ in 2 * g.nextUniform() - 1 }
        var blockByBlock = c0, whole = c0
        blockByBlock.withUnsafeMutableBufferPointer { cp in
            PanelGemm.multiply(
                transposeB: flags.transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                c: cp.baseAddress!, ldc: ldc, accumulate: flags.accumulate)
        }
        let panels = PanelGemm.panelCount(n)
        var packed = [Float](repeating: .nan, count: PanelGemm.wholePackFloats(n: n, k: k))
        packed.withUnsafeMutableBufferPointer { pp in
            for run in [0..<5, 5..<panels] {
                PanelGemm.packWhole(transposeB: flags.transposeB, b, ldb: ldb, n: n, k: k, panels: run, into: pp.baseAddress!)
            }
        }
        #expect(!packed.contains { $0.isNaN })
        whole.withUnsafeMutableBufferPointer { cp in
            PanelGemm.multiply(
                m: m, n: n, k: k, a: a, lda: lda, packed: packed, c: cp.baseAddress!, ldc: ldc, accumulate: flags.accumulate)
        }
        #expect(differingElements(whole, blockByBlock) == 0)
        var expected = c0.map(Double.init)
        for i in 0..<m {
            for j in 0..<n {
                let sum = (0..<k).reduce(0.0) {
                    $0 + Double(a[i * lda + $1]) * Double(flags.transposeB ? b[j * ldb + $1] : b[$1 * ldb + j])
                }
                expected[i * ldc + j] = (flags.accumulate ? expected[i * ldc + j] : 0) + sum
            }
        }
        #expect(relativeError(whole, expected) <= 1e-5)
    }
}
