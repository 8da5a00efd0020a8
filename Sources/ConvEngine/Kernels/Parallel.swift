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
/// on every call; the workers spin briefly between jobs, so the back-to-back kernels of a step find
/// them awake.
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

    /// Sets OpenBLAS to one thread if that has not been done yet; `BLAS.gemm` and `LAPACK` call it
    /// before every OpenBLAS call. Without it, a program whose first engine call ran under
    /// `withThreadCount` (which does not read the process-wide count) had OpenBLAS run its own
    /// threads beside the pool, and allocate a job table on every threaded sgemm.
    static func prepareOpenBLAS() { _ = width.load(ordering: .relaxed) }

    /// Threads the engine uses (its kernels and its GEMM bands).
    public static var threadCount: Int { width.load(ordering: .relaxed) }

    /// The most threads the engine takes. No kernel cuts its work into more than 8 slices, so more
    /// threads than this only cost memory and start-up; the bound keeps a typo from starting
    /// thousands of threads.
    public static let maximumThreadCount = 256

    /// Sets the threads the engine uses (process-wide).
    ///
    /// - Parameter count: the number of threads, clamped to `1...maximumThreadCount`.
    public static func setThreadCount(_ count: Int) {
        width.store(min(maximumThreadCount, max(1, count)), ordering: .relaxed)
    }

    /// A limit on the engine's threads for the current task, if set.
    @TaskLocal private static var taskThreadLimit: Int?

    /// Runs `body` with the engine's kernels limited to `count` threads on the current task, leaving
    /// the process-wide setting alone.
    ///
    /// - Parameters:
    ///   - count: the thread limit, clamped to `1...maximumThreadCount`.
    ///   - body: the work to run under the limit.
    public static func withThreadCount<R>(_ count: Int, _ body: () throws -> R) rethrows -> R {
        try $taskThreadLimit.withValue(min(maximumThreadCount, max(1, count)), operation: body)
    }

    /// The threads available to the current task: its limit, if any, else `threadCount`.
    static var currentThreadCount: Int { taskThreadLimit ?? threadCount }

    /// Runs `job.run(slice:)` once for every slice in `0..<slices`, spread over `threadCount` threads.
    ///
    /// Slices run in any order and at the same time, so each must write only its own memory. Each
    /// thread takes the next slice not yet started, until none is left.
    static func forEachSlice<Job: SliceJob>(_ slices: Int, _ job: Job) {
        let threads = min(currentThreadCount, slices)
        if threads <= 1 {
            for slice in 0..<slices { job.run(slice: slice) }
            return
        }
        // Threads take the next slice as they finish one, so a thread slowed by a busy neighbour on
        // the host does not hold the others back; which thread runs a slice never changes its result.
        if !pool.run(slices, helpers: threads - 1, job) {
            for slice in 0..<slices { job.run(slice: slice) }
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

    /// Runs `job.run(range:slice:)` for each of `slices` near-equal consecutive ranges of
    /// `0..<count`, spread over the threads like `forEachSlice`.
    static func forEachRange<Job: RangeJob>(of count: Int, slices: Int, _ job: Job) {
        forEachSlice(slices, RangeSlices(job: job, count: count, slices: slices))
    }

    /// Runs `job.run(range:slice:)` over consecutive ranges covering `0..<count`, in parallel when
    /// the work is large enough; for element-wise passes whose ranges are independent.
    static func forEachRange<Job: RangeJob>(count: Int, grain: Int, _ job: Job) {
        forEachRange(of: count, slices: sliceCount(count, grain: grain), job)
    }
}

/// The body of a parallel loop as a value: what every slice shares (pointers, sizes) in its stored
/// properties, the work of one slice in `run(slice:)`.
///
/// A value, not a closure, so that handing work to the other threads allocates nothing: the workers
/// read the value where it lies on the caller's stack. A closure would have to be made escaping to
/// be shared (`withoutActuallyEscaping`), which boxes it on the heap at every call: an allocation
/// per hand-off.
protocol SliceJob {
    /// Does the work of slice `slice`.
    func run(slice: Int)
}

/// The body of a parallel loop over consecutive ranges of `0..<count`, as a value (see `SliceJob`).
protocol RangeJob {
    /// Does the work of `range`, which is slice `slice` of the loop.
    func run(range: Range<Int>, slice: Int)
}

/// A `RangeJob` cut into `slices` slices of `0..<count`.
private struct RangeSlices<Job: RangeJob>: SliceJob {
    let job: Job, count: Int, slices: Int

    func run(slice: Int) { job.run(range: Parallel.range(slice, of: slices, count: count), slice: slice) }
}
