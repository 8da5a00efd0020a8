import Synchronization

/// Records the products `BLAS.gemm` computes for the current task: how many, of which shapes, cut
/// into how many bands. Only real calls: the blocks a kernel multiplies on the workers' threads
/// (column blocks, Winograd's 16 products) are its own work and are not recorded.
///
/// Used by tests (a pointwise pass is exactly one sgemm; bands follow the shape only). Tracing is
/// bound to a task with `GemmTrace.$current.withValue(trace) { … }`.
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
        /// The single-threaded OpenBLAS calls the product was cut into (`BLAS.partition`): a
        /// function of the shape only, so the same on any thread count.
        public var bands: Int

        /// Describes a call with C `[m × n]`, inner extent `k`, the operands' transposition, and the
        /// bands it was cut into.
        public init(m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false, bands: Int = 1) {
            (self.m, self.n, self.k, self.transposeA, self.transposeB, self.bands) = (m, n, k, transposeA, transposeB, bands)
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
