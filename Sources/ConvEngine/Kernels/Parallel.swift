import COpenBLAS
import Synchronization

/// The engine's threads: how many, and how kernels share them.
///
/// There is one pool: the engine's own workers (`WorkerPool`), used through `forEachSlice`. OpenBLAS
/// is set to one thread and `BLAS.gemm` cuts large products into bands that run on this pool, like
/// every other kernel, so two thread pools never compete for the same cores. The default count is
/// what OpenBLAS would have used (`OPENBLAS_NUM_THREADS`, else every core).
///
/// The workers replaced `DispatchQueue.concurrentPerform`, which woke its threads through the kernel
/// on every call (futex calls were ~10% of the samples of a SeedNet batch-20 profile); with workers
/// that spin briefly between jobs, SeedNet at batch 20 trained at 6,463 against 4,636 img/s
/// (medians of 3 alternating runs), at batch 128 the same within noise.
///
/// Work is cut into *slices* whose number depends only on the problem size, never on the thread
/// count, and partial sums are combined in slice order; so a kernel's result is bit-for-bit the same
/// with one thread or many.
public enum Parallel {
    /// The worker threads.
    private static let pool = WorkerPool()

    /// The process-wide thread count. Its initialisation sets OpenBLAS to one thread, so it must run
    /// before any OpenBLAS call: see `prepareOpenBLAS`.
    private static let width: Atomic<Int> = {
        let count = Int(openblas_get_num_threads())
        openblas_set_num_threads(1)
        return Atomic(count)
    }()

    /// Sets OpenBLAS to one thread if that has not been done yet; called before every OpenBLAS call.
    /// Otherwise a program whose first engine call ran under `withThreadCount` (which need not read
    /// the process-wide count) had OpenBLAS run its own threads beside the pool, and allocate a job
    /// table on every threaded sgemm.
    static func prepareOpenBLAS() { _ = width.load(ordering: .relaxed) }

    /// Threads the engine uses (its kernels and its GEMM bands).
    public static var threadCount: Int { width.load(ordering: .relaxed) }

    /// Sets the threads the engine uses (process-wide).
    ///
    /// - Parameter count: the number of threads; values below 1 mean 1.
    public static func setThreadCount(_ count: Int) {
        width.store(max(1, count), ordering: .relaxed)
    }

    /// A limit on the engine's threads for the current task, if set.
    @TaskLocal private static var taskThreadLimit: Int?

    /// Runs `body` with the engine's kernels limited to `count` threads on the current task, leaving
    /// the process-wide setting alone.
    ///
    /// - Parameters:
    ///   - count: the thread limit; values below 1 mean 1.
    ///   - body: the work to run under the limit.
    public static func withThreadCount<R>(_ count: Int, _ body: () throws -> R) rethrows -> R {
        try $taskThreadLimit.withValue(max(1, count), operation: body)
    }

    /// The threads available to the current task: its limit, if any, else `threadCount`.
    static var currentThreadCount: Int {
        prepareOpenBLAS()
        return taskThreadLimit ?? threadCount
    }

    /// Runs `body(slice)` once for every slice in `0..<slices`, spread over `threadCount` threads.
    ///
    /// Slices run in any order and at the same time, so each must write only its own memory. Each
    /// thread takes the next slice not yet started, until none is left.
    static func forEachSlice(_ slices: Int, _ body: (Int) -> Void) {
        let threads = min(currentThreadCount, slices)
        if threads <= 1 {
            for slice in 0..<slices { body(slice) }
            return
        }
        // Threads take the next slice as they finish one, so a thread slowed by a busy neighbour on
        // the host does not hold the others back; which thread runs a slice never changes its result.
        if !pool.run(slices, helpers: threads - 1, body) {
            for slice in 0..<slices { body(slice) }
        }
    }

    /// How many slices to cut `count` units of work into, given that a slice should hold at least
    /// `grain` units (so that a small pass is not split at all) and at most `maximumSlices` slices.
    static func sliceCount(_ count: Int, grain: Int, maximumSlices: Int = 8) -> Int {
        max(1, min(maximumSlices, count / max(1, grain)))
    }

    /// The `slice`-th of `slices` near-equal consecutive parts of `0..<count`.
    static func range(_ slice: Int, of slices: Int, count: Int) -> Range<Int> {
        (slice * count / slices)..<((slice + 1) * count / slices)
    }

    /// How many slices to cut `items` items (images, say) of `workPerItem` units each into: at
    /// least `grain` units per slice, at most 8 slices, never more slices than items.
    static func itemSliceCount(_ items: Int, workPerItem: Int, grain: Int) -> Int {
        min(items, sliceCount(items * workPerItem, grain: grain))
    }

    /// Runs `body(slice, range)` for each of `slices` near-equal consecutive ranges of `0..<count`,
    /// spread over the threads like `forEachSlice`.
    static func forEachRange(of count: Int, slices: Int, _ body: (_ slice: Int, _ range: Range<Int>) -> Void) {
        forEachSlice(slices) { body($0, range($0, of: slices, count: count)) }
    }

    /// Runs `body(range)` over consecutive ranges covering `0..<count`, in parallel when the work is
    /// large enough; for element-wise passes whose ranges are independent.
    static func forEachRange(count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
        forEachRange(of: count, slices: sliceCount(count, grain: grain)) { body($1) }
    }
}
