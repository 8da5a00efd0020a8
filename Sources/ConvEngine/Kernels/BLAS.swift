import COpenBLAS

/// The one place that calls `cblas_sgemm`, in the manner of Caffe's `caffe_cpu_gemm`: callers say
/// which operands are transposed and the wrapper derives every leading dimension from that. It
/// chooses how a product is cut; the runners of each cut are in `GemmBands.swift`.
///
/// Dimension legend: `m` rows of op(A) and C, `n` columns of op(B) and C, `k` the shared inner extent.
/// All matrices are row-major and contiguous: A is `[m × k]` (or `[k × m]` when transposed), B is
/// `[k × n]` (or `[n × k]`), C is `[m × n]`.
///
/// Threads: OpenBLAS runs single-threaded, and a large product is cut into bands of rows of C (or of
/// columns, when that reads less) that run as single-threaded calls on `Parallel`'s threads, so GEMMs
/// and the engine's other kernels share one pool. The bands depend on the shape only (`partition`),
/// so a product gives the same bits on any thread count. OpenBLAS's own threads would
/// spin (sched_yield) for a while after every call and then compete with the kernels that follow for
/// the same cores (`docs/engine.md`, "Threads").
public enum BLAS {
    /// Multiply-adds below which a product runs as one call on the calling thread.
    static let splitGrain = 1 << 20
    /// The fewest rows (or columns) of C in one band.
    static let minimumBand = 16
    /// The most bands a product is cut into: enough for the threads to balance their share.
    static let maximumBands = 8
    /// The most bands of columns when op(A) is large: each one reads all of A again (the weight
    /// gradients' dYᵀ, as large as an activation), so more than two made those products memory-bound.
    static let maximumColumnBands = 2
    /// Floats of op(A) up to which it counts as small: it stays in a core's cache while the column
    /// bands re-read it, so they may be as many as the row bands.
    static let smallOperand = 1 << 17

    /// How a product is cut into bands: how many, and whether of rows of C (else of columns).
    ///
    /// A function of the shape alone, never of the thread count: OpenBLAS does not promise the same
    /// bits for a product cut differently (its Haswell kernels give other bits for a band of 128
    /// rows than for one of 256), so a partition that followed the threads would make results
    /// depend on them. Threads take the next band as they finish one.
    ///
    /// Bands of rows, unless bands of columns read at most half as many floats: every band of rows
    /// reads all of B (k·n) and its share of A, every band of columns all of A (m·k) and its share
    /// of B. Rows win when A is the larger operand (a layer's activations against its weights; at
    /// a ratio near one the columns measured slower, as B's re-reads hit the caches); columns when C
    /// has few rows (a batch of one image at 7×7 or 14×14), where bands of rows would each read all
    /// the weights.
    ///
    /// - Parameters:
    ///   - m: rows of C.
    ///   - n: columns of C.
    ///   - k: the inner extent.
    ///   - transposeA: whether A is used transposed (then a band of rows is not contiguous in A, and
    ///     the product is cut into columns).
    static func partition(m: Int, n: Int, k: Int, transposeA: Bool) -> (bands: Int, byRows: Bool) {
        let (mn, o1) = m.multipliedReportingOverflow(by: n)
        let (work, o2) = mn.multipliedReportingOverflow(by: k)
        // A row vector times a matrix reads each of B's floats for one multiply-add: bound by memory,
        // it pays to split at a quarter of the grain, where both cores' loads stream B.
        let grain = m == 1 ? splitGrain / 4 : splitGrain
        let slices = o1 || o2 ? maximumBands : Parallel.sliceCount(work, grain: grain, maximumSlices: maximumBands)
        let (a, b) = (Double(m) * Double(k), Double(k) * Double(n))
        let rowBands = transposeA ? 1 : min(slices, m / minimumBand)
        let columnBands = min(slices, a <= Double(smallOperand) ? maximumBands : maximumColumnBands, n / minimumBand)
        guard rowBands > 1 || columnBands > 1 else { return (1, true) }
        let byRows = rowBands > 1 && (columnBands <= 1 || 2 * (Double(columnBands) * a + b) > Double(rowBands) * b + a)
        return (byRows ? rowBands : columnBands, byRows)
    }

    /// How many slices of the inner extent a product that `partition` leaves in one band is cut
    /// into instead: a weight gradient dYᵀ·X over a layer with fewer than two bands' worth of
    /// channels (MobileNet 0.75's 24 → 48 pointwise layer at 32×32: 24 columns, 48 rows, k = every
    /// pixel of the batch), which would otherwise run on one thread. Only for a transposed A, whose
    /// rows k are contiguous slices of both operands; a function of the shape alone, like the bands.
    static func depthSliceCount(m: Int, n: Int, k: Int, transposeA: Bool) -> Int {
        guard transposeA else { return 1 }
        let (mn, o1) = m.multipliedReportingOverflow(by: n)
        let (work, o2) = mn.multipliedReportingOverflow(by: k)
        guard !o1, !o2 else { return 1 }
        return min(Parallel.sliceCount(work, grain: splitGrain, maximumSlices: maximumBands), k / minimumDepthSlice)
    }

    /// The shortest slice of the inner extent `depthSliceCount` makes.
    static let minimumDepthSlice = 256

    /// Computes `C = alpha · op(A) · op(B) + beta · C`.
    ///
    /// - Parameters:
    ///   - transposeA: whether A is stored `[k × m]` and used transposed.
    ///   - transposeB: whether B is stored `[n × k]` and used transposed.
    ///   - m: rows of C.
    ///   - n: columns of C.
    ///   - k: the inner extent.
    ///   - alpha: scale of the product.
    ///   - a: matrix A.
    ///   - b: matrix B.
    ///   - beta: scale of the existing C (0 overwrites, 1 accumulates).
    ///   - c: matrix C, written.
    public static func gemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        beta: Float = 0, c: UnsafeMutablePointer<Float>
    ) {
        gemm(
            transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, b: b, beta: beta,
            c: c, onThisThread: false)
    }

    /// `gemm` for a kernel that already runs on one of `Parallel`'s threads: with `onThisThread`
    /// the product is one single-threaded call on the calling thread, never cut into bands, and it is
    /// not traced (it is a block of a kernel's own work, on a worker's thread).
    ///
    /// With `epilogue` (a layer's output) the bands of rows are computed in chunks of
    /// `epilogueChunk` rows (when op(A) is not transposed), each followed by the epilogue while it is
    /// in cache; bands of columns are followed by one pass of it. The chunks follow the shape only,
    /// whatever the epilogue does (an empty one included), so a layer's output is the same bits with
    /// any epilogue after it.
    static func gemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, onThisThread: Bool, epilogue: GemmEpilogue? = nil
    ) {
        Parallel.prepareOpenBLAS()
        let (bands, byRows) = onThisThread ? (1, true) : partition(m: m, n: n, k: k, transposeA: transposeA)
        if !onThisThread, bands == 1, epilogue == nil {
            let depthSlices = depthSliceCount(m: m, n: n, k: k, transposeA: transposeA)
            if depthSlices > 1 {
                GemmTrace.current?.record(
                    GemmTrace.Call(m: m, n: n, k: k, transposeA: true, transposeB: transposeB, bands: depthSlices))
                DepthSlices.gemm(
                    transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, b: b, beta: beta, c: c,
                    slices: depthSlices)
                return
            }
        }
        if !onThisThread {
            GemmTrace.current?.record(
                GemmTrace.Call(
                    m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB,
                    bands: bands))
        }
        // Chunks of rows address A by rows, so a transposed A (never a layer's output product) is
        // computed whole and its epilogue follows the band.
        let chunk = epilogue != nil && byRows && !transposeA ? epilogueChunk(n: n, k: k) : m
        if sharesPackedB(m: m, bands: bands, byRows: byRows, transposeA: transposeA, alpha: alpha, beta: beta) {
            SharedPanels.gemm(
                transposeB: transposeB, m: m, n: n, k: k, a: a, b: b, accumulate: beta == 1, c: c, bands: bands,
                epilogue: epilogue?.isEmpty == false ? epilogue : nil)
            return
        }
        Parallel.forEachSlice(
            bands,
            GemmBands(
                transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                alpha: alpha, a: a, b: b, beta: beta, c: c,
                bands: bands, byRows: byRows, chunk: chunk, epilogue: byRows && epilogue?.isEmpty == false ? epilogue : nil))
        if let epilogue, !byRows, !epilogue.isEmpty {
            Parallel.forEachRange(count: m, grain: max(1, elementGrain / n), GemmEpilogueRows(epilogue: epilogue, n: n, c: c))
        }
    }

    /// `C = A · op(B)` on the engine's own GEMM with op(B) packed whole: as packed ahead in `weights`
    /// (a frozen layer's), else packed now. Followed by `epilogue` if given. The evaluation passes
    /// of pointwise layers, frozen or not, so that freezing never changes their bits.
    ///
    /// Cut as `gemm` cuts the same shape (`partition`): bands of rows share the packed panels
    /// (`SharedPanels`), bands of columns take runs of whole panels (`PackedColumns`). Every
    /// element is `PanelGemm`'s chain over k in order, so the bits depend on the shape only. Only
    /// where `PanelGemm.isEngineKernel`.
    ///
    /// - Parameters:
    ///   - transposeB: whether B is stored `[n × k]` (a pointwise layer's weights).
    ///   - m: rows of A and C.
    ///   - n: columns of C.
    ///   - k: the inner extent.
    ///   - a: A `[m × k]`.
    ///   - b: B, read when `weights` is nil.
    ///   - weights: op(B) packed ahead (its `n` and `k` those given), or nil.
    ///   - c: C `[m × n]`, written.
    ///   - epilogue: what follows each chunk of rows (or the whole product, for bands of columns).
    static func packedGemm(
        transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        weights: PackedWeights?, c: UnsafeMutablePointer<Float>, epilogue: GemmEpilogue?
    ) {
        precondition(weights.map { $0.n == n && $0.k == k } ?? true, "packed weights of another shape")
        guard let weights else {
            PackBuffers.whole.withBuffer(floats: PanelGemm.wholePackFloats(n: n, k: k)) { panels in
                SharedPanels.pack(transposeB: transposeB, b: b, n: n, k: k, into: panels)
                packedGemm(m: m, n: n, k: k, a: a, panels: panels, c: c, epilogue: epilogue)
            }
            return
        }
        packedGemm(m: m, n: n, k: k, a: a, panels: weights.panels, c: c, epilogue: epilogue)
    }

    private static func packedGemm(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, panels: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
        epilogue: GemmEpilogue?
    ) {
        let (bands, byRows) = partition(m: m, n: n, k: k, transposeA: false)
        GemmTrace.current?.record(GemmTrace.Call(m: m, n: n, k: k, transposeA: false, transposeB: true, bands: bands))
        let epilogue = epilogue?.isEmpty == false ? epilogue : nil
        if byRows {
            SharedPanels.multiply(
                m: m, n: n, k: k, a: a, packed: panels, accumulate: false, c: c, bands: bands, epilogue: epilogue)
            return
        }
        Parallel.forEachSlice(bands, PackedColumns(m: m, n: n, k: k, a: a, packed: panels, c: c, bands: bands))
        if let epilogue {
            Parallel.forEachRange(count: m, grain: max(1, elementGrain / n), GemmEpilogueRows(epilogue: epilogue, n: n, c: c))
        }
    }

    /// Rows of C per sgemm call inside a band of rows when an epilogue follows: enough that the
    /// chunk's output (`cachedRows`) stays in a core's cache for the epilogue, and at least 8·k
    /// rows, so that packing B again for every chunk (k·n floats) costs at most an eighth of
    /// reading the chunk's rows of A.
    static func epilogueChunk(n: Int, k: Int) -> Int {
        max(cachedRows(n: n), 8 * k)
    }

    /// Rows of C whose output (at least 2¹⁶ floats, at least `minimumBand` rows) stays in a core's
    /// cache between the product that writes them and the epilogue that follows: the chunks of
    /// `SharedPanels`, which pack B once and so need no more rows than that.
    static func cachedRows(n: Int) -> Int {
        max(minimumBand, (1 << 16) / max(1, n))
    }

    /// Rows of C per band up to which a product cut into bands of rows packs B once for all its
    /// bands (`SharedPanels`). OpenBLAS packs all of B again in every band and every epilogue chunk:
    /// one copy of B per (rows of the band) multiply-adds of each of its floats, which cost 30% of a
    /// 14×14 layer at batch 1 (24 rows per band) and still a few percent at 784 rows per band; past
    /// that the copy is noise and OpenBLAS, which packs A too, is as fast or faster.
    static let sharedPackRows = 1024

    /// Whether a product runs as `SharedPanels`: bands of rows of at most `sharedPackRows`, A as
    /// stored (the bands address A by rows), in a form `PanelGemm` computes (`PanelGemm.runs`).
    static func sharesPackedB(m: Int, bands: Int, byRows: Bool, transposeA: Bool, alpha: Float, beta: Float) -> Bool {
        byRows && bands > 1 && m <= sharedPackRows * bands && !transposeA
            && PanelGemm.runs(transposeA: false, alpha: alpha, beta: beta)
    }

    /// The name of the kernel set OpenBLAS chose for this CPU (e.g. "Cooperlake").
    public static var coreName: String { String(cString: openblas_get_corename()) }
}
