import COpenBLAS
import Synchronization

// The three ways `BLAS.gemm` runs a product on `Parallel`'s threads, each a function of the shape
// alone (`BLAS.partition`, `BLAS.sharesPackedB`, `BLAS.depthSliceCount`), so that a product gives
// the same bits on any thread count:
//   GemmBands     bands of rows or of columns of C, one single-threaded OpenBLAS (or PanelGemm)
//                 call per band or per chunk of a band, each chunk followed by the epilogue;
//   SharedPanels  bands of few rows that share one packed copy of B, on PanelGemm;
//   PackedColumns bands of columns of a B packed ahead (`PackedWeights`), on PanelGemm;
//   DepthSlices   slices of the inner extent of a transposed product too narrow for two bands,
//                 their partial sums added in slice order.

extension BLAS {
    /// One sgemm cut into `bands` bands of rows (`byRows`) or of columns of C, one call per band, or
    /// per `chunk` rows of a band of rows, each followed by `epilogue` if given.
    struct GemmBands: SliceJob {
        let transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float
        let a: UnsafePointer<Float>, b: UnsafePointer<Float>, beta: Float, c: UnsafeMutablePointer<Float>
        let bands: Int, byRows: Bool, chunk: Int, epilogue: GemmEpilogue?

        func run(slice index: Int) {
            let band = byRows ? Parallel.range(index, of: bands, count: m) : 0..<m
            let columns = byRows ? 0..<n : Parallel.range(index, of: bands, count: n)
            var start = band.lowerBound
            while start < band.upperBound {
                let rows = start..<min(band.upperBound, start + chunk)
                start = rows.upperBound
                if m == 1 {
                    rowVectorTimesMatrix(columns: columns)
                    continue
                }
                if usesPanelGemm {
                    PanelGemm.multiply(
                        transposeA: transposeA, transposeB: transposeB, m: rows.count, n: columns.count, k: k,
                        a: a + (transposeA ? rows.lowerBound : rows.lowerBound * k), lda: transposeA ? m : k,
                        b: b + columns.lowerBound * (transposeB ? k : 1), ldb: transposeB ? k : n,
                        c: c + rows.lowerBound * n + columns.lowerBound, ldc: n, accumulate: beta == 1)
                    epilogue?.apply(rows: rows, columns: n, c)
                    continue
                }
                cblas_sgemm(
                    CblasRowMajor,
                    transposeA ? CblasTrans : CblasNoTrans,
                    transposeB ? CblasTrans : CblasNoTrans,
                    blasint(rows.count), blasint(columns.count), blasint(k), alpha,
                    a + rows.lowerBound * k, blasint(transposeA ? m : k),
                    b + columns.lowerBound * (transposeB ? k : 1), blasint(transposeB ? k : n),
                    beta, c + rows.lowerBound * n + columns.lowerBound, blasint(n))
                epilogue?.apply(rows: rows, columns: n, c)
            }
        }

        /// Whether the bands go to the engine's own kernel (`PanelGemm.takes`).
        private var usesPanelGemm: Bool {
            PanelGemm.takes(transposeA: transposeA, k: k, alpha: alpha, beta: beta)
        }

        /// C's `columns` when C is one row (a fully connected layer on one image): `sgemv` over
        /// those rows of op(B)ᵀ. `sgemm` would first copy B into its packed layout, reading and
        /// writing every weight once more for a single multiply-add each.
        private func rowVectorTimesMatrix(columns: Range<Int>) {
            // Row-major op(B) is [k × n]: B itself when not transposed (take its transpose's rows), else
            // B stored [n × k], whose rows are C's columns. A is k floats, one apart either way.
            cblas_sgemv(
                CblasRowMajor, transposeB ? CblasNoTrans : CblasTrans,
                blasint(transposeB ? columns.count : k), blasint(transposeB ? k : columns.count), alpha,
                b + columns.lowerBound * (transposeB ? k : 1), blasint(transposeB ? k : n),
                a, 1, beta, c + columns.lowerBound, 1)
            epilogue?.apply(rows: 0..<1, columns: n, c)
        }
    }

    /// A product cut into bands of rows that share one packed copy of op(B): B is packed whole
    /// (`PanelGemm.packWhole`, its panels spread over the threads), then each band multiplies its
    /// rows by it with `PanelGemm`, in chunks whose output stays in cache for the epilogue. Every
    /// element is `PanelGemm`'s chain over k in order, so the bits depend on the shape only, not on
    /// the bands, the threads or OpenBLAS's kernel set.
    enum SharedPanels {
        static func gemm(
            transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
            accumulate: Bool, c: UnsafeMutablePointer<Float>, bands: Int, epilogue: GemmEpilogue?
        ) {
            PackBuffers.whole.withBuffer(floats: PanelGemm.wholePackFloats(n: n, k: k)) { packed in
                pack(transposeB: transposeB, b: b, n: n, k: k, into: packed)
                multiply(m: m, n: n, k: k, a: a, packed: packed, accumulate: accumulate, c: c, bands: bands, epilogue: epilogue)
            }
        }

        /// Packs op(B) whole into `packed` (`PanelGemm.wholePackFloats(n:k:)` floats), its panels
        /// spread over the threads.
        static func pack(transposeB: Bool, b: UnsafePointer<Float>, n: Int, k: Int, into packed: UnsafeMutablePointer<Float>) {
            let panels = PanelGemm.panelCount(n)
            let packSlices = min(panels, Parallel.sliceCount(k * n, grain: packGrain))
            Parallel.forEachSlice(
                packSlices, Pack(transposeB: transposeB, b: b, n: n, k: k, panels: panels, slices: packSlices, packed: packed))
        }

        /// C = A · op(B) (or C += it) in `bands` bands of rows, op(B) already packed whole.
        static func multiply(
            m: Int, n: Int, k: Int, a: UnsafePointer<Float>, packed: UnsafePointer<Float>, accumulate: Bool,
            c: UnsafeMutablePointer<Float>, bands: Int, epilogue: GemmEpilogue?
        ) {
            Parallel.forEachSlice(
                bands,
                Bands(
                    m: m, n: n, k: k, a: a, packed: packed, accumulate: accumulate, c: c, bands: bands,
                    chunk: cachedRows(n: n), epilogue: epilogue))
        }

        /// Floats of B per slice of the packing.
        static let packGrain = 1 << 15

        private struct Pack: SliceJob {
            let transposeB: Bool, b: UnsafePointer<Float>, n: Int, k: Int, panels: Int, slices: Int
            let packed: UnsafeMutablePointer<Float>

            func run(slice index: Int) {
                PanelGemm.packWhole(
                    transposeB: transposeB, b, ldb: transposeB ? k : n, n: n, k: k,
                    panels: Parallel.range(index, of: slices, count: panels), into: packed)
            }
        }

        private struct Bands: SliceJob {
            let m: Int, n: Int, k: Int, a: UnsafePointer<Float>, packed: UnsafePointer<Float>, accumulate: Bool
            let c: UnsafeMutablePointer<Float>, bands: Int, chunk: Int, epilogue: GemmEpilogue?

            func run(slice index: Int) {
                let band = Parallel.range(index, of: bands, count: m)
                var start = band.lowerBound
                while start < band.upperBound {
                    let rows = start..<min(band.upperBound, start + chunk)
                    start = rows.upperBound
                    PanelGemm.multiply(
                        m: rows.count, n: n, k: k, a: a + rows.lowerBound * k, lda: k, packed: packed,
                        c: c + rows.lowerBound * n, ldc: n, accumulate: accumulate)
                    epilogue?.apply(rows: rows, columns: n, c)
                }
            }
        }
    }

    /// `C = A · op(B)` with op(B) packed whole (`PackedWeights`), cut into `bands` bands of columns,
    /// each a run of whole panels: every band reads all of A (few rows: a layer over a small map)
    /// where it lies and its own panels, so nothing is copied. `PanelGemm`'s chain over k per
    /// element, so the same bits as bands of rows.
    struct PackedColumns: SliceJob {
        let m: Int, n: Int, k: Int, a: UnsafePointer<Float>, packed: UnsafePointer<Float>
        let c: UnsafeMutablePointer<Float>, bands: Int

        func run(slice index: Int) {
            let panels = Parallel.range(index, of: bands, count: PanelGemm.panelCount(n))
            let first = panels.lowerBound * PanelGemm.panelColumns
            let end = min(n, panels.upperBound * PanelGemm.panelColumns)
            guard first < end else { return }
            PanelGemm.multiply(
                m: m, n: end - first, k: k, a: a, lda: k, packed: packed + first * k, c: c + first, ldc: n,
                accumulate: false)
        }
    }

    /// `C = alpha · Aᵀ · op(B) + beta · C` cut into `slices` slices of the inner extent: each
    /// slice's product (one single-threaded call on `Parallel`'s threads) goes to its own block of
    /// partial sums, and the blocks are then added to C in slice order, so the bits depend on the
    /// shape only, whichever thread computed which slice.
    enum DepthSlices {
        /// Free buffers of partial sums (address, capacity), kept from call to call so that a
        /// training step allocates nothing; each call takes one for itself, as products may run
        /// on several threads at once (a library's callers, parallel tests).
        private static let free = Mutex<[(address: Int, capacity: Int)]>([])

        static func gemm(
            transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>,
            b: UnsafePointer<Float>, beta: Float, c: UnsafeMutablePointer<Float>, slices: Int
        ) {
            let floats = slices * m * n
            var buffer = free.withLock { $0.popLast() } ?? (0, 0)
            if buffer.capacity < floats {
                UnsafeMutablePointer<Float>(bitPattern: buffer.address)?.deallocate()
                buffer = (Int(bitPattern: UnsafeMutablePointer<Float>.allocate(capacity: floats)), floats)
            }
            defer { free.withLock { $0.append(buffer) } }
            guard let partials = UnsafeMutablePointer<Float>(bitPattern: buffer.address) else { return }
            Parallel.forEachSlice(
                slices,
                Slice(transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, b: b, partials: partials, slices: slices))
            let count = m * n
            if beta == 0 {
                c.update(from: partials, count: count)
            } else if beta != 1 {
                for i in 0..<count { c[i] = beta * c[i] + partials[i] }
            } else {
                for i in 0..<count { c[i] += partials[i] }
            }
            for slice in 1..<slices {
                let p = partials + slice * count
                for i in 0..<count { c[i] += p[i] }
            }
        }

        private struct Slice: SliceJob {
            let transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float
            let a: UnsafePointer<Float>, b: UnsafePointer<Float>, partials: UnsafeMutablePointer<Float>, slices: Int

            func run(slice index: Int) {
                let depth = Parallel.range(index, of: slices, count: k)
                // A is [k × m] and B [k × n] (or [n × k]): rows `depth` of A, and of op(B).
                if PanelGemm.takes(transposeA: true, k: depth.count, alpha: alpha, beta: 0) {
                    PanelGemm.multiply(
                        transposeA: true, transposeB: transposeB, m: m, n: n, k: depth.count,
                        a: a + depth.lowerBound * m, lda: m,
                        b: b + depth.lowerBound * (transposeB ? 1 : n), ldb: transposeB ? k : n,
                        c: partials + index * m * n, ldc: n, accumulate: false)
                    return
                }
                cblas_sgemm(
                    CblasRowMajor, CblasTrans, transposeB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(depth.count), alpha,
                    a + depth.lowerBound * m, blasint(m),
                    b + depth.lowerBound * (transposeB ? 1 : n), blasint(transposeB ? k : n),
                    0, partials + index * m * n, blasint(n))
            }
        }
    }
}
