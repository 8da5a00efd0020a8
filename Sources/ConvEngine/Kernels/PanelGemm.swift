import Synchronization

// The engine's own single-threaded sgemm: for products whose inner extent is short (a pointwise
// layer's forward pass over its input channels and input gradient over its output channels, up to
// `maximumDepth`), for the bands of a product with few rows per band, which share one copy of B
// packed whole (`BLAS`'s `SharedPanels`), and in AVX-512 builds for the weight gradients dYᵀ·X.
//
// Dimension legend (as in `BLAS`): m rows of op(A) and C, n columns of op(B) and C, k the inner
// extent; A is `[m × k]` row-major, or `[k × m]` used transposed (`transposesA`); op(B) is `[k × n]`.
//
// Why: OpenBLAS copies A, the large operand (an activation), into its packed layout on every call,
// and with k ≤ 128 it ran these products well below its peak (docs/performance.md, "Short products
// and a batch of one", has the measurements). Here A is read where it lies: a tile of rows of C sits
// in registers while the kernel walks k, broadcasting one float of each row of A against B's row
// per step: six rows by 16 columns in twelve 8-float registers where the engine is compiled for
// AVX2; for AVX-512, eight rows by two panels side by side (32 columns) in sixteen 16-float
// registers, ten loads per sixteen fused multiply-adds (twelve to sixteen chains in flight, enough
// to hide their latency on two FMA units). Only B is packed, block by block, into panels of sixteen
// columns, `[kk][16]` each, zero past n. Every element of C is the fused multiply-add chain over k
// in order from 0 (or from C with `accumulate`), whatever the tile, the panel, the band or the
// vector width, so the bits depend on the shape only: not on the thread count, the bands, the
// build's vector code, nor OpenBLAS's kernel set.

enum PanelGemm {
    /// Rows of C per register tile.
    static let tileRows = FullTile<Row16, AsStored>.rows
    /// Columns of C per packed panel of B (one 16-float register, or two 8-float ones).
    static let panelColumns = 16
    /// Depth of one packed block of B: its panels stay in the core's L2 while the rows stream by.
    static let depthBlock = 256
    /// Columns of one packed block of B (a multiple of `panelColumns`).
    static let columnBlock = 128
    /// The longest inner extent it is used for (`BLAS.gemm`): beyond it OpenBLAS, which packs A
    /// once per block of rows and reuses it across more columns, measured as fast or faster. With
    /// 16-float registers the kernel ran 1.8–2.1× OpenBLAS's AVX2 kernels and 0.96–1.05× its
    /// AVX-512 ones on the pointwise shapes up to k = 1024 (single-threaded, on a Zen 5 host).
    static var maximumDepth: Int { VectorCode.isAVX512 ? 1024 : 128 }

    /// Whether products run on this kernel at all: only where the engine is compiled for AVX2 or
    /// AVX-512 (without vector fused multiply-adds it would trail OpenBLAS). The one place that
    /// condition is written.
    static var isEngineKernel: Bool {
        #if ENGINE_AVX2 || ENGINE_AVX512
            true
        #else
            false
        #endif
    }

    /// Whether a product can run here: `isEngineKernel`, A as stored (or transposed, where
    /// `transposesA`), and C overwritten or added to (α = 1, β = 0 or 1), the only forms `multiply`
    /// computes. The one place its callers ask.
    static func runs(transposeA: Bool, alpha: Float, beta: Float) -> Bool {
        isEngineKernel && (!transposeA || transposesA) && alpha == 1 && (beta == 0 || beta == 1)
    }

    /// Whether `BLAS.gemm` sends a product (or a band or depth slice of one) here rather than to
    /// OpenBLAS: a form `runs` computes, with a short inner extent or A transposed.
    static func takes(transposeA: Bool, k: Int, alpha: Float, beta: Float) -> Bool {
        runs(transposeA: transposeA, alpha: alpha, beta: beta) && (transposeA || k <= maximumDepth)
    }

    /// Whether products with A transposed (weight gradients dYᵀ·X, of any depth) run here: in
    /// AVX-512 builds. Single-threaded on a Zen 5 host the kernel ran MobileNet's pointwise weight
    /// gradients at 1.7–2.1× OpenBLAS's AVX2 kernels and 0.88–1.37× its AVX-512 ones; in the
    /// network, against the AVX-512 kernels, those over the large early maps took about 10% longer
    /// and the rest as long. Kept there because a training step then runs no product on OpenBLAS,
    /// so its bits no longer depend on OpenBLAS's kernel set. AVX2 builds keep OpenBLAS for them
    /// (not measured on an AVX2 host).
    static var transposesA: Bool { VectorCode.isAVX512 }

    /// C `[m × n]` = op(A) · op(B), or C += it with `accumulate`, on the calling thread.
    ///
    /// - Parameters:
    ///   - transposeA: whether A is stored `[k × m]` (only where `transposesA`).
    ///   - transposeB: whether B is stored `[n × k]` (a pointwise layer's weights in its forward pass).
    ///   - m: rows of A and C.
    ///   - n: columns of C.
    ///   - k: the inner extent.
    ///   - a: A, rows `lda` floats apart.
    ///   - b: B, rows `ldb` floats apart.
    ///   - c: C, rows `ldc` floats apart.
    ///   - accumulate: add to C instead of overwriting it.
    static func multiply(
        transposeA: Bool = false, transposeB: Bool, m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        // One tile on the stack for the last panel of a block when it is partial (n not a multiple of 16).
        withUnsafeTemporaryAllocation(of: Float.self, capacity: tileRows * panelColumns) { edge in
            PackBuffers.shared.withBuffer { packed in
                if transposeA {
                    precondition(transposesA, "PanelGemm does not transpose A in this build")
                    multiplyBlocks(
                        TransposedA.self, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                        c: c, ldc: ldc, accumulate: accumulate, packed: packed, edge: edge.baseAddress!)
                } else {
                    multiplyBlocks(
                        AsStored.self, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                        c: c, ldc: ldc, accumulate: accumulate, packed: packed, edge: edge.baseAddress!)
                }
            }
        }
    }

    /// `multiply` over blocks of `columnBlock` columns and `depthBlock` of depth, each packed once.
    private static func multiplyBlocks<Layout: ALayout>(
        _: Layout.Type, transposeB: Bool, m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
        packed: UnsafeMutablePointer<Float>, edge: UnsafeMutablePointer<Float>
    ) {
        forEachBlock(n: n, k: k) { columns, depth in
            pack(transposeB: transposeB, b, ldb: ldb, depth: depth, columns: columns, into: packed)
            multiplyBlock(
                Layout.self, m: m, columns: columns.count, depth: depth.count, a: a + Layout.column(depth.lowerBound, lda: lda),
                lda: lda, packed: packed,
                panelStride: depth.count * panelColumns, c: c + columns.lowerBound, ldc: ldc,
                accumulate: accumulate || depth.lowerBound > 0, edge: edge)
        }
    }

    /// Calls `body` for each block of `columnBlock` columns of `0..<n` and, within it, each block of
    /// `depthBlock` of `0..<k`, in order: the order in which every element's chain over k runs.
    @inline(__always)
    private static func forEachBlock(n: Int, k: Int, _ body: (_ columns: Range<Int>, _ depth: Range<Int>) -> Void) {
        for j0 in stride(from: 0, to: n, by: columnBlock) {
            for k0 in stride(from: 0, to: k, by: depthBlock) {
                body(j0..<min(n, j0 + columnBlock), k0..<min(k, k0 + depthBlock))
            }
        }
    }

    /// Floats of one packed block.
    static var packedFloats: Int { depthBlock * columnBlock }

    /// Panels of 16 columns that hold `n` columns.
    static func panelCount(_ n: Int) -> Int { (n + panelColumns - 1) / panelColumns }

    /// Floats of op(B) packed whole (`packWhole`).
    static func wholePackFloats(n: Int, k: Int) -> Int { panelCount(n) * panelColumns * k }

    /// Writes op(B)'s panels `panels` (of all its `n` columns), each `[k][16]` for the whole depth
    /// and zero past n, at their places in `packed` (panel p at `p · 16k`): a block of depth
    /// `k0..<k1` of panel p is then the floats from `p · 16k + 16·k0`, as `multiplyBlock` reads them.
    static func packWhole(
        transposeB: Bool, _ b: UnsafePointer<Float>, ldb: Int, n: Int, k: Int, panels: Range<Int>,
        into packed: UnsafeMutablePointer<Float>
    ) {
        pack(
            transposeB: transposeB, b, ldb: ldb, depth: 0..<k,
            columns: (panels.lowerBound * panelColumns)..<min(n, panels.upperBound * panelColumns),
            into: packed + panels.lowerBound * panelColumns * k)
    }

    /// C `[m × n]` = A · op(B), or C += it, with op(B) already packed whole (`packWhole`), on the
    /// calling thread: for `BLAS.gemm`'s bands that share one packed B.
    ///
    /// Rows go in chunks of `chunkFloats / k`, which stay in L2 while every block of B passes them.
    ///
    /// - Parameters:
    ///   - m: rows of A and C.
    ///   - n: columns of C.
    ///   - k: the inner extent.
    ///   - a: A, rows `lda` floats apart.
    ///   - packed: op(B) packed whole.
    ///   - c: C, rows `ldc` floats apart.
    ///   - accumulate: add to C instead of overwriting it.
    static func multiply(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, packed: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        let chunk = max(tileRows, (chunkFloats / k) / tileRows * tileRows)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: tileRows * panelColumns) { edge in
            for i0 in stride(from: 0, to: m, by: chunk) {
                forEachBlock(n: n, k: k) { columns, depth in
                    multiplyBlock(
                        AsStored.self, m: min(chunk, m - i0), columns: columns.count, depth: depth.count,
                        a: a + i0 * lda + depth.lowerBound, lda: lda,
                        packed: packed + columns.lowerBound * k + depth.lowerBound * panelColumns, panelStride: k * panelColumns,
                        c: c + i0 * ldc + columns.lowerBound, ldc: ldc, accumulate: accumulate || depth.lowerBound > 0,
                        edge: edge.baseAddress!)
                }
            }
        }
    }

    /// Floats of A in one chunk of rows of `multiply(m:n:k:a:lda:packed:…)`.
    static let chunkFloats = 1 << 15

    /// Writes op(B)'s rows `depth`, columns `columns` as panels of 16 columns, `[kk][16]` each, the
    /// last one zero past the columns.
    private static func pack(
        transposeB: Bool, _ b: UnsafePointer<Float>, ldb: Int, depth: Range<Int>, columns: Range<Int>,
        into packed: UnsafeMutablePointer<Float>
    ) {
        let panels = (columns.count + panelColumns - 1) / panelColumns, K = depth.count
        for panel in 0..<panels {
            let dst = packed + panel * K * panelColumns
            let first = columns.lowerBound + panel * panelColumns
            if !transposeB && first + panelColumns <= columns.upperBound {
                // A whole panel of B as stored: each of its rows is sixteen floats in a row.
                let src = b + depth.lowerBound * ldb + first
                for kk in 0..<K { (dst + kk * panelColumns).update(from: src + kk * ldb, count: panelColumns) }
                continue
            }
            for jj in 0..<panelColumns {
                let j = columns.lowerBound + panel * panelColumns + jj
                if j >= columns.upperBound {
                    for kk in 0..<K { dst[kk * panelColumns + jj] = 0 }
                } else if transposeB {
                    let src = b + j * ldb + depth.lowerBound
                    for kk in 0..<K { dst[kk * panelColumns + jj] = src[kk] }
                } else {
                    let src = b + depth.lowerBound * ldb + j
                    for kk in 0..<K { dst[kk * panelColumns + jj] = src[kk * ldb] }
                }
            }
        }
    }

    /// C's `columns` (from `c`) over one packed block of `depth`: every tile of `tileRows` rows
    /// against every panel while those rows of A are in L1, then the last rows. A partial last
    /// panel goes through `edge`, a whole tile, of which only its columns are copied to C.
    private static func multiplyBlock<Layout: ALayout>(
        _: Layout.Type, m: Int, columns: Int, depth: Int, a: UnsafePointer<Float>, lda: Int, packed: UnsafePointer<Float>,
        panelStride: Int, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, edge t: UnsafeMutablePointer<Float>
    ) {
        let panels = (columns + panelColumns - 1) / panelColumns
        var i = 0
        while i < m {
            let rows = min(tileRows, m - i)
            var panel = 0
            while panel < panels {
                let width = min(panelColumns, columns - panel * panelColumns)
                let bp = packed + panel * panelStride, cp = c + i * ldc + panel * panelColumns
                if width < panelColumns {
                    partialTile(
                        Layout.self, rows: rows, width: width, depth: depth, a: a + Layout.row(i, lda: lda), lda: lda, bp, cp,
                        ldc: ldc,
                        accumulate: accumulate, edge: t)
                } else if widePanels, columns - panel * panelColumns >= 2 * panelColumns {
                    tile(
                        Row32.self, Layout.self, rows: rows, depth: depth, a: a + Layout.row(i, lda: lda), lda: lda, bp,
                        panelStride: panelStride, cp,
                        ldc: ldc, accumulate: accumulate)
                    panel += 1
                } else {
                    tile(
                        Row16.self, Layout.self, rows: rows, depth: depth, a: a + Layout.row(i, lda: lda), lda: lda, bp,
                        panelStride: panelStride, cp,
                        ldc: ldc, accumulate: accumulate)
                }
                panel += 1
            }
            i += rows
        }
    }

    /// Whether whole panels go two at a time (`Row32`): where the registers hold 16 floats, so that
    /// a tile of 8 rows keeps sixteen chains of fused multiply-adds in flight for ten loads.
    private static var widePanels: Bool { VectorCode.isAVX512 }

    /// A tile of the partial last panel, `width` < 16 columns: computed whole in `edge`, then copied.
    /// Out of line, so that the whole panels' loop keeps its registers to itself.
    @inline(never)
    private static func partialTile<Layout: ALayout>(
        _: Layout.Type, rows: Int, width: Int, depth: Int, a: UnsafePointer<Float>, lda: Int, _ bp: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, edge t: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows where accumulate { (t + r * panelColumns).update(from: c + r * ldc, count: width) }
        tile(
            Row16.self, Layout.self, rows: rows, depth: depth, a: a, lda: lda, bp, panelStride: 0, t, ldc: panelColumns,
            accumulate: accumulate)
        for r in 0..<rows { (c + r * ldc).update(from: t + r * panelColumns, count: width) }
    }

    /// One tile: `rows` (up to `tileRows`) rows of C by the columns of `Lanes` (one or two panels).
    /// A partial tile (the last rows of a band: 4 of them whenever the rows are a multiple of 16)
    /// goes by four rows, then one at a time.
    @inline(__always)
    private static func tile<Lanes: PanelLanes, Layout: ALayout>(
        _: Lanes.Type, _: Layout.Type, rows: Int, depth: Int, a: UnsafePointer<Float>, lda: Int, _ bp: UnsafePointer<Float>,
        panelStride: Int, _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        if rows == tileRows {
            registerTile(
                FullTile<Lanes, Layout>.self, depth: depth, a: a, lda: lda, bp, panelStride: panelStride, c, ldc: ldc,
                accumulate: accumulate)
            return
        }
        var r = 0
        if rows >= 4 {
            fourRows(
                Lanes.self, Layout.self, depth: depth, a: a, lda: lda, bp, panelStride: panelStride, c, ldc: ldc,
                accumulate: accumulate)
            r = 4
        }
        while r < rows {
            registerTile(
                OneRow<Lanes, Layout>.self, depth: depth, a: a + Layout.row(r, lda: lda), lda: lda, bp, panelStride: panelStride,
                c + r * ldc,
                ldc: 0, accumulate: accumulate)
            r += 1
        }
    }

    /// Four rows: the same chain per element as a full tile.
    @inline(never)
    private static func fourRows<Lanes: PanelLanes, Layout: ALayout>(
        _: Lanes.Type, _: Layout.Type, depth: Int, a: UnsafePointer<Float>, lda: Int, _ bp: UnsafePointer<Float>,
        panelStride: Int,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        registerTile(
            FourRows<Lanes, Layout>.self, depth: depth, a: a, lda: lda, bp, panelStride: panelStride, c, ldc: ldc,
            accumulate: accumulate)
    }

    /// A tile of rows held in registers across the whole depth: per step of k, one load of B's
    /// row per panel, one broadcast of A per row and a fused multiply-add per row and register.
    @inline(__always)
    private static func registerTile<Tile: RegisterTile>(
        _: Tile.Type, depth: Int, a: UnsafePointer<Float>, lda: Int, _ bp: UnsafePointer<Float>, panelStride: Int,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        var tile = Tile(c, ldc: ldc, a, lda: lda, accumulate)
        var b = bp
        for kk in 0..<depth {
            tile.add(kk, Tile.Lanes(b, panelStride: panelStride))
            b += panelColumns
        }
        tile.store(c, ldc: ldc)
    }
}

/// A row of B or C in registers: the columns of one panel (`Row16`) or of two side by side (`Row32`).
private protocol PanelLanes {
    static var zero: Self { get }
    /// B's row at `b` in its panel, and in the next panel `panelStride` floats on if it spans two.
    init(_ b: UnsafePointer<Float>, panelStride: Int)
    /// C's row at `c`.
    init(row c: UnsafeMutablePointer<Float>)
    /// self += a · b, with fused multiply-adds.
    mutating func addProduct(_ a: Float, _ b: Self)
    /// Stores the row to C at `c`.
    func store(_ c: UnsafeMutablePointer<Float>)
}

/// Where A's element (row r, column kk) lies: A as stored `[m × k]` or transposed `[k × m]`, its
/// stored rows `lda` floats apart.
private protocol ALayout {
    /// The offset of row r's first element.
    static func row(_ r: Int, lda: Int) -> Int
    /// The offset of column kk from its row's first element.
    static func column(_ kk: Int, lda: Int) -> Int
}

/// A as stored: row r at r · lda, its columns one float apart.
private enum AsStored: ALayout {
    @inline(__always) static func row(_ r: Int, lda: Int) -> Int { r * lda }
    @inline(__always) static func column(_ kk: Int, lda: Int) -> Int { kk }
}

/// A stored `[k × m]` and used transposed: row r of op(A) is A's column r, its elements `lda` apart.
private enum TransposedA: ALayout {
    @inline(__always) static func row(_ r: Int, lda: Int) -> Int { r }
    @inline(__always) static func column(_ kk: Int, lda: Int) -> Int { kk * lda }
}

/// Rows of C in registers, with the rows of A that feed them.
private protocol RegisterTile {
    associatedtype Lanes: PanelLanes
    associatedtype Layout: ALayout
    /// How many rows.
    static var rows: Int { get }
    /// Loaded from C's rows (`ldc` apart) with `accumulate`, else zero; A's rows as `Layout` says.
    init(_ c: UnsafeMutablePointer<Float>, ldc: Int, _ a: UnsafePointer<Float>, lda: Int, _ accumulate: Bool)
    /// Adds A's column `kk` times B's row `b` to every row.
    mutating func add(_ kk: Int, _ b: Lanes)
    /// Stores every row to C.
    func store(_ c: UnsafeMutablePointer<Float>, ldc: Int)
}

/// One row of a register tile and its row of A.
private struct OneRow<Lanes: PanelLanes, Layout: ALayout>: RegisterTile {
    static var rows: Int { 1 }
    var row: Lanes
    let a: UnsafePointer<Float>, lda: Int

    @inline(__always) init(_ c: UnsafeMutablePointer<Float>, ldc: Int, _ a: UnsafePointer<Float>, lda: Int, _ accumulate: Bool) {
        row = accumulate ? Lanes(row: c) : .zero
        (self.a, self.lda) = (a, lda)
    }

    @inline(__always) mutating func add(_ kk: Int, _ b: Lanes) { row.addProduct(a[Layout.column(kk, lda: lda)], b) }

    @inline(__always) func store(_ c: UnsafeMutablePointer<Float>, ldc: Int) { row.store(c) }
}

/// The rows of `Top`, then those of `Bottom` below them.
private struct Stacked<Top: RegisterTile, Bottom: RegisterTile>: RegisterTile
where Top.Lanes == Bottom.Lanes, Top.Layout == Bottom.Layout {
    typealias Layout = Top.Layout
    static var rows: Int { Top.rows + Bottom.rows }
    var top: Top, bottom: Bottom

    @inline(__always) init(_ c: UnsafeMutablePointer<Float>, ldc: Int, _ a: UnsafePointer<Float>, lda: Int, _ accumulate: Bool) {
        top = Top(c, ldc: ldc, a, lda: lda, accumulate)
        bottom = Bottom(c + Top.rows * ldc, ldc: ldc, a + Top.Layout.row(Top.rows, lda: lda), lda: lda, accumulate)
    }

    @inline(__always) mutating func add(_ kk: Int, _ b: Top.Lanes) {
        top.add(kk, b)
        bottom.add(kk, b)
    }

    @inline(__always) func store(_ c: UnsafeMutablePointer<Float>, ldc: Int) {
        top.store(c, ldc: ldc)
        bottom.store(c + Top.rows * ldc, ldc: ldc)
    }
}

private typealias TwoRows<Lanes: PanelLanes, Layout: ALayout> = Stacked<OneRow<Lanes, Layout>, OneRow<Lanes, Layout>>
private typealias FourRows<Lanes: PanelLanes, Layout: ALayout> = Stacked<
    TwoRows<Lanes, Layout>, TwoRows<Lanes, Layout>
>
#if ENGINE_AVX512
    /// `PanelGemm.tileRows` rows: in sixteen 16-float registers over two panels.
    private typealias FullTile<Lanes: PanelLanes, Layout: ALayout> = Stacked<
        FourRows<Lanes, Layout>, FourRows<Lanes, Layout>
    >
#else
    /// `PanelGemm.tileRows` rows: in twelve 8-float registers over one panel.
    private typealias FullTile<Lanes: PanelLanes, Layout: ALayout> = Stacked<
        FourRows<Lanes, Layout>, TwoRows<Lanes, Layout>
    >
#endif

/// Sixteen floats of a row of B or C, one panel's columns: one 16-float register where the engine
/// is compiled for AVX-512, else two 8-float ones. Each lane gets the same fused multiply-add at
/// either width.
private struct Row16: PanelLanes {
    #if ENGINE_AVX512
        var lanes: SIMD16<Float>

        static var zero: Row16 { Row16(lanes: .zero) }

        @inline(__always) init(lanes: SIMD16<Float>) { self.lanes = lanes }

        @inline(__always) init(_ b: UnsafePointer<Float>, panelStride: Int) { lanes = load16(b) }

        @inline(__always) init(row c: UnsafeMutablePointer<Float>) { lanes = load16(c) }

        @inline(__always) mutating func addProduct(_ a: Float, _ b: Row16) {
            lanes.addProduct(SIMD16(repeating: a), b.lanes)
        }

        @inline(__always) func store(_ c: UnsafeMutablePointer<Float>) { store16(lanes, c) }
    #else
        var low: SIMD8<Float>, high: SIMD8<Float>

        static var zero: Row16 { Row16(low: .zero, high: .zero) }

        @inline(__always) init(low: SIMD8<Float>, high: SIMD8<Float>) { (self.low, self.high) = (low, high) }

        @inline(__always) init(_ b: UnsafePointer<Float>, panelStride: Int) { (low, high) = (load8(b), load8(b + 8)) }

        @inline(__always) init(row c: UnsafeMutablePointer<Float>) { (low, high) = (load8(c), load8(c + 8)) }

        @inline(__always) mutating func addProduct(_ a: Float, _ b: Row16) {
            let s = SIMD8<Float>(repeating: a)
            low.addProduct(s, b.low)
            high.addProduct(s, b.high)
        }

        @inline(__always) func store(_ c: UnsafeMutablePointer<Float>) {
            store8(low, c)
            store8(high, c + 8)
        }
    #endif
}

/// Thirty-two floats of a row of B or C: two panels' columns side by side, in two 16-float
/// registers (AVX-512 builds).
private struct Row32: PanelLanes {
    var left: Row16, right: Row16

    static var zero: Row32 { Row32(left: .zero, right: .zero) }

    @inline(__always) init(left: Row16, right: Row16) { (self.left, self.right) = (left, right) }

    @inline(__always) init(_ b: UnsafePointer<Float>, panelStride: Int) {
        (left, right) = (Row16(b, panelStride: 0), Row16(b + panelStride, panelStride: 0))
    }

    @inline(__always) init(row c: UnsafeMutablePointer<Float>) { (left, right) = (Row16(row: c), Row16(row: c + 16)) }

    @inline(__always) mutating func addProduct(_ a: Float, _ b: Row32) {
        left.addProduct(a, b.left)
        right.addProduct(a, b.right)
    }

    @inline(__always) func store(_ c: UnsafeMutablePointer<Float>) {
        left.store(c)
        right.store(c + 16)
    }
}

/// Buffers for packed blocks of B, one per product running at a time: taken for a call and given
/// back after it, so that after the first steps no product allocates (a training step allocates
/// nothing), and products on several threads or tasks at once never share one.
final class PackBuffers: Sendable {
    /// Buffers for one packed block each (`PanelGemm.multiply(transposeB:…)`).
    static let shared = PackBuffers()
    /// Buffers for a whole packed B (`BLAS`'s `SharedPanels`), kept apart so that a small block's
    /// buffer never replaces a large one that the next product would allocate again.
    static let whole = PackBuffers()

    /// The free buffers' addresses and capacities (an address is Sendable, a pointer is not).
    private let free = Mutex<[(address: Int, capacity: Int)]>([])

    /// Runs `body` with a buffer of at least `floats` floats (one packed block by default).
    func withBuffer<R>(floats: Int = PanelGemm.packedFloats, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        var buffer = free.withLock { $0.popLast() } ?? (address: 0, capacity: 0)
        if buffer.capacity < floats {
            UnsafeMutablePointer<Float>(bitPattern: buffer.address)?.deallocate()
            buffer = (Int(bitPattern: UnsafeMutablePointer<Float>.allocate(capacity: floats)), floats)
        }
        defer { free.withLock { $0.append(buffer) } }
        return body(UnsafeMutablePointer<Float>(bitPattern: buffer.address)!)
    }
}
