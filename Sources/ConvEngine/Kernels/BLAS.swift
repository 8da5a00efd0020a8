import COpenBLAS
import Synchronization

/// The one place that calls `cblas_sgemm`, in the manner of Caffe's `caffe_cpu_gemm`: callers say
/// which operands are transposed and the wrapper derives every leading dimension from that.
///
/// Dimension legend: `m` rows of op(A) and C, `n` columns of op(B) and C, `k` the shared inner extent.
/// All matrices are row-major and contiguous: A is `[m × k]` (or `[k × m]` when transposed), B is
/// `[k × n]` (or `[n × k]`), C is `[m × n]`.
public enum BLAS {
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
        let lda = transposeA ? m : k
        let ldb = transposeB ? k : n
        GemmTrace.current?.record(GemmTrace.Call(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB))
        cblas_sgemm(
            CblasRowMajor,
            transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k), alpha,
            a, blasint(lda), b, blasint(ldb), beta, c, blasint(n))
    }

    /// The number of threads OpenBLAS uses for one call (set with `Parallel.setThreadCount`).
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// The name of the kernel set OpenBLAS chose for this CPU (e.g. "Cooperlake").
    public static var coreName: String { String(cString: openblas_get_corename()) }
}

/// Records the GEMMs issued by the current task: how many, and of which shapes.
///
/// Used by tests (a pointwise pass is exactly one sgemm) and by benchmarks (time sgemm alone on the
/// network's own shapes). Tracing is bound to a task with `GemmTrace.$current.withValue(trace) { … }`;
/// calls made on other threads are not seen.
public final class GemmTrace: Sendable {
    /// One recorded call.
    public struct Call: Hashable, Sendable {
        /// Rows of C.
        public var m: Int
        /// Columns of C.
        public var n: Int
        /// Inner extent.
        public var k: Int
        /// Whether A was used transposed.
        public var transposeA: Bool
        /// Whether B was used transposed.
        public var transposeB: Bool

        /// Describes a call with C `[m × n]`, inner extent `k` and the operands' transposition.
        public init(m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false) {
            (self.m, self.n, self.k, self.transposeA, self.transposeB) = (m, n, k, transposeA, transposeB)
        }
    }

    /// The trace the current task records into, if any.
    @TaskLocal public static var current: GemmTrace?

    private let storage = Mutex<[Call]>([])

    /// Creates an empty trace.
    public init() {}

    func record(_ call: Call) { storage.withLock { $0.append(call) } }

    /// The calls recorded so far, in order.
    public var calls: [Call] { storage.withLock { $0 } }
}
