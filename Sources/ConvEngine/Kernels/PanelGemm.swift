import Synchronization

// The engine's own single-threaded sgemm for products whose inner extent is short: a pointwise
// layer over up to 128 channels, forward (A the activations, B its weights used transposed) and
// input gradient (A the output gradient, B the weights as stored); and, of any depth, for the bands
// of a product with few rows per band, which share one copy of B packed whole (`BLAS`'s
// `SharedPanels`).
//
// Dimension legend (as in `BLAS`): m rows of A and C, n columns of op(B) and C, k the inner extent;
// A is `[m × k]` row-major and never transposed, op(B) is `[k × n]`.
//
// Why: OpenBLAS copies A, the large operand (an activation), into its packed layout on every call,
// and with k ≤ 128 it ran these products well below its peak (docs/performance.md, "Short products
// and a batch of one", has the measurements). Here A is read where it lies: a tile
// of six rows of C and sixteen columns sits in twelve 8-float registers while the kernel walks k,
// broadcasting one float of each row of A against two registers of B per step. Only B is packed,
// into panels of sixteen columns, `[kk][16]` each, zero past n (B is small: a layer's weights).
// Every element of C is the fused multiply-add chain over k in order from 0 (or from C with
// `accumulate`), whatever the tile, the panel or the band it falls in, so the bits depend on the
// shape only: not on the thread count, the bands, nor OpenBLAS's kernel set.

enum PanelGemm {
    /// Rows of C per register tile.
    static let tileRows = 6
    /// Columns of C per packed panel of B (two 8-float registers).
    static let panelColumns = 16
    /// Depth of one packed block of B: its panels stay in the core's L2 while the rows stream by.
    static let depthBlock = 256
    /// Columns of one packed block of B (a multiple of `panelColumns`).
    static let columnBlock = 128
    /// The longest inner extent it is used for (`BLAS.gemm`): beyond it OpenBLAS, which packs A
    /// once per block of rows and reuses it across more columns, measured as fast or faster.
    static let maximumDepth = 128

    /// Whether products run on this kernel at all: only where the engine is compiled for AVX2 and
    /// not AVX-512, the one vector width it was measured at (its registers hold 8 floats, where
    /// OpenBLAS's AVX-512 kernels use 16). The one place that condition is written.
    static var isEngineKernel: Bool {
        #if ENGINE_AVX2 && !ENGINE_AVX512
            true
        #else
            false
        #endif
    }

    /// Whether a product can run here: `isEngineKernel`, A as stored, and C overwritten or added to
    /// (α = 1, β = 0 or 1), the only forms `multiply` computes. The one place its callers ask.
    static func runs(transposeA: Bool, alpha: Float, beta: Float) -> Bool {
        isEngineKernel && !transposeA && alpha == 1 && (beta == 0 || beta == 1)
    }

    /// C `[m × n]` = A `[m × k]` · op(B), or C += it with `accumulate`, on the calling thread.
    ///
    /// - Parameters:
    ///   - transposeB: whether B is stored `[n × k]` (a pointwise layer's weights in its forward pass).
    ///   - m: rows of A and C.
    ///   - n: columns of C.
    ///   - k: the inner extent.
    ///   - a: A, rows `lda` floats apart.
    ///   - b: B, rows `ldb` floats apart.
    ///   - c: C, rows `ldc` floats apart.
    ///   - accumulate: add to C instead of overwriting it.
    static func multiply(
        transposeB: Bool, m: Int, n: Int, k: Int,
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
                multiplyBlocks(
                    transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
                    accumulate: accumulate, packed: packed, edge: edge.baseAddress!)
            }
        }
    }

    /// `multiply` over blocks of `columnBlock` columns and `depthBlock` of depth, each packed once.
    private static func multiplyBlocks(
        transposeB: Bool, m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
        packed: UnsafeMutablePointer<Float>, edge: UnsafeMutablePointer<Float>
    ) {
        forEachBlock(n: n, k: k) { columns, depth in
            pack(transposeB: transposeB, b, ldb: ldb, depth: depth, columns: columns, into: packed)
            multiplyBlock(
                m: m, columns: columns.count, depth: depth.count, a: a + depth.lowerBound, lda: lda, packed: packed,
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
                        m: min(chunk, m - i0), columns: columns.count, depth: depth.count,
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

    /// C's `columns` (from `c`) over one packed block of `depth`: every tile of six rows against
    /// every panel while those rows of A are in L1, then the last rows one at a time. A partial last
    /// panel goes through `edge`, a whole tile, of which only its columns are copied to C.
    private static func multiplyBlock(
        m: Int, columns: Int, depth: Int, a: UnsafePointer<Float>, lda: Int, packed: UnsafePointer<Float>,
        panelStride: Int, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, edge t: UnsafeMutablePointer<Float>
    ) {
        let panels = (columns + panelColumns - 1) / panelColumns
        var i = 0
        while i < m {
            let rows = min(tileRows, m - i)
            for panel in 0..<panels {
                let width = min(panelColumns, columns - panel * panelColumns)
                let bp = packed + panel * panelStride, cp = c + i * ldc + panel * panelColumns
                if width == panelColumns {
                    tile(rows: rows, depth: depth, a: a + i * lda, lda: lda, bp, cp, ldc: ldc, accumulate: accumulate)
                } else {
                    partialTile(
                        rows: rows, width: width, depth: depth, a: a + i * lda, lda: lda, bp, cp, ldc: ldc,
                        accumulate: accumulate, edge: t)
                }
            }
            i += rows
        }
    }

    /// A tile of the partial last panel, `width` < 16 columns: computed whole in `edge`, then copied.
    /// Out of line, so that the whole panels' loop keeps its registers to itself.
    @inline(never)
    private static func partialTile(
        rows: Int, width: Int, depth: Int, a: UnsafePointer<Float>, lda: Int, _ bp: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, edge t: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows where accumulate { (t + r * panelColumns).update(from: c + r * ldc, count: width) }
        tile(rows: rows, depth: depth, a: a, lda: lda, bp, t, ldc: panelColumns, accumulate: accumulate)
        for r in 0..<rows { (c + r * ldc).update(from: t + r * panelColumns, count: width) }
    }

    /// One tile: `rows` (up to 6) rows of C by 16 columns. A partial tile (the last rows of a band:
    /// 4 of them whenever the rows are a multiple of 16) goes by four rows, then one at a time: four
    /// rows keep eight chains of fused multiply-adds in flight, as many as the two FMA units need to
    /// hide their latency, where one row keeps two.
    @inline(__always)
    private static func tile(
        rows: Int, depth: Int, a: UnsafePointer<Float>, lda: Int, _ bp: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        if rows == tileRows {
            sixRows(depth: depth, a: a, lda: lda, bp, c, ldc: ldc, accumulate: accumulate)
            return
        }
        var r = 0
        if rows >= 4 {
            fourRows(depth: depth, a: a, lda: lda, bp, c, ldc: ldc, accumulate: accumulate)
            r = 4
        }
        while r < rows {
            oneRow(depth: depth, a: a + r * lda, bp, c + r * ldc, accumulate: accumulate)
            r += 1
        }
    }

    /// Six rows by 16 columns in twelve registers: per step of k, two loads of B, six broadcasts of
    /// A and twelve fused multiply-adds.
    @inline(__always)
    private static func sixRows(
        depth: Int, a: UnsafePointer<Float>, lda: Int, _ bp: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        registerTile(SixRows.self, depth: depth, a: a, lda: lda, bp, c, ldc: ldc, accumulate: accumulate)
    }

    /// Four rows by 16 columns in eight registers: the same chain per element as `sixRows`.
    @inline(never)
    private static func fourRows(
        depth: Int, a: UnsafePointer<Float>, lda: Int, _ bp: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        registerTile(FourRows.self, depth: depth, a: a, lda: lda, bp, c, ldc: ldc, accumulate: accumulate)
    }

    /// A tile of rows by 16 columns held in registers across the whole depth: per step of k, two
    /// loads of B, one broadcast of A per row and two fused multiply-adds per row.
    @inline(__always)
    private static func registerTile<Tile: RegisterTile>(
        _: Tile.Type, depth: Int, a: UnsafePointer<Float>, lda: Int, _ bp: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        var tile = Tile(c, ldc: ldc, a, lda: lda, accumulate)
        var b = bp
        for kk in 0..<depth {
            tile.add(kk, load8(b), load8(b + 8))
            b += panelColumns
        }
        tile.store(c, ldc: ldc)
    }

    /// One row by 16 columns (the rows past the last whole tile): the same chain per element.
    @inline(__always)
    private static func oneRow(
        depth: Int, a: UnsafePointer<Float>, _ bp: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        registerTile(OneRow.self, depth: depth, a: a, lda: 0, bp, c, ldc: 0, accumulate: accumulate)
    }
}

/// Rows of C by 16 columns in registers, with the rows of A that feed them.
private protocol RegisterTile {
    /// How many rows.
    static var rows: Int { get }
    /// Loaded from C's rows (`ldc` apart) with `accumulate`, else zero; A's rows `lda` apart.
    init(_ c: UnsafeMutablePointer<Float>, ldc: Int, _ a: UnsafePointer<Float>, lda: Int, _ accumulate: Bool)
    /// Adds A's column `kk` times B's row (low and high halves) to every row.
    mutating func add(_ kk: Int, _ bLow: SIMD8<Float>, _ bHigh: SIMD8<Float>)
    /// Stores every row to C.
    func store(_ c: UnsafeMutablePointer<Float>, ldc: Int)
}

/// One row of a register tile and its row of A.
private struct OneRow: RegisterTile {
    static var rows: Int { 1 }
    var row: Row16
    let a: UnsafePointer<Float>

    @inline(__always) init(_ c: UnsafeMutablePointer<Float>, ldc: Int, _ a: UnsafePointer<Float>, lda: Int, _ accumulate: Bool) {
        row = Row16(c, accumulate)
        self.a = a
    }

    @inline(__always) mutating func add(_ kk: Int, _ bLow: SIMD8<Float>, _ bHigh: SIMD8<Float>) { row.add(a[kk], bLow, bHigh) }

    @inline(__always) func store(_ c: UnsafeMutablePointer<Float>, ldc: Int) { row.store(c) }
}

/// The rows of `Top`, then those of `Bottom` below them.
private struct Stacked<Top: RegisterTile, Bottom: RegisterTile>: RegisterTile {
    static var rows: Int { Top.rows + Bottom.rows }
    var top: Top, bottom: Bottom

    @inline(__always) init(_ c: UnsafeMutablePointer<Float>, ldc: Int, _ a: UnsafePointer<Float>, lda: Int, _ accumulate: Bool) {
        top = Top(c, ldc: ldc, a, lda: lda, accumulate)
        bottom = Bottom(c + Top.rows * ldc, ldc: ldc, a + Top.rows * lda, lda: lda, accumulate)
    }

    @inline(__always) mutating func add(_ kk: Int, _ bLow: SIMD8<Float>, _ bHigh: SIMD8<Float>) {
        top.add(kk, bLow, bHigh)
        bottom.add(kk, bLow, bHigh)
    }

    @inline(__always) func store(_ c: UnsafeMutablePointer<Float>, ldc: Int) {
        top.store(c, ldc: ldc)
        bottom.store(c + Top.rows * ldc, ldc: ldc)
    }
}

private typealias TwoRows = Stacked<OneRow, OneRow>
private typealias FourRows = Stacked<TwoRows, TwoRows>
/// `PanelGemm.tileRows` rows in twelve registers.
private typealias SixRows = Stacked<FourRows, TwoRows>

/// Sixteen floats of one row of C in two registers.
private struct Row16 {
    var low: SIMD8<Float>, high: SIMD8<Float>

    /// Loaded from `c` with `accumulate`, else zero.
    @inline(__always) init(_ c: UnsafeMutablePointer<Float>, _ accumulate: Bool) {
        (low, high) = accumulate ? (load8(c), load8(c + 8)) : (.zero, .zero)
    }

    /// self += a · (low, high), with fused multiply-adds.
    @inline(__always) mutating func add(_ a: Float, _ bLow: SIMD8<Float>, _ bHigh: SIMD8<Float>) {
        let s = SIMD8<Float>(repeating: a)
        low.addProduct(s, bLow)
        high.addProduct(s, bHigh)
    }

    @inline(__always) func store(_ c: UnsafeMutablePointer<Float>) {
        store8(low, c)
        store8(high, c + 8)
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
