#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The engine's own worker threads, behind `Parallel.forEachSlice`.
///
/// A job is published by bumping a generation counter; every worker runs slices of it (taking the
/// next unstarted one from a shared counter, as the calling thread does) and then acknowledges it;
/// the caller returns once every worker has. Between jobs a worker spins briefly on the generation
/// before it sleeps on a condition variable, so the back-to-back kernels of a training step reach
/// workers that are awake. The body is the caller's closure, shared for the duration of the call
/// through `withoutActuallyEscaping` (which boxes it: one small allocation per job).
///
/// Measured against `DispatchQueue.concurrentPerform`, which woke its workers through the kernel on
/// every call: see `Parallel`.
///
/// One job runs at a time; a call made while the pool is busy (from another thread, or from inside a
/// slice) runs its slices on the calling thread, which gives the same results.
final class WorkerPool: @unchecked Sendable {
    /// Checks of the generation before a worker sleeps (tens of microseconds).
    private static let spinsBeforeSleep = 20_000

    private let generation = Atomic<Int>(0)
    private let nextSlice = Atomic<Int>(0)
    private let acknowledged = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    /// Workers started so far (they never stop).
    private var workerCount = 0
    /// The current job: its slice count, the workers that run slices of it (the others only
    /// acknowledge it), and the caller's closure.
    private var sliceCount = 0
    private var helperCount = 0
    private var job: (Int) -> Void = WorkerPool.idle
    private static let idle: @Sendable (Int) -> Void = { _ in }

    init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    /// Runs `body(slice)` for every slice in `0..<slices` on the calling thread and `helpers` workers.
    ///
    /// - Returns: false, having run nothing, when the pool is busy with another job.
    func run(_ slices: Int, helpers: Int, _ body: (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        while workerCount < helpers, startWorker() {}
        return withoutActuallyEscaping(body) { body in
            sliceCount = slices
            helperCount = helpers
            job = body
            nextSlice.store(0, ordering: .relaxed)
            acknowledged.store(0, ordering: .relaxed)
            // Sequentially consistent with the sleepers count (a worker going to sleep counts itself,
            // then reads the generation): either it sees this job or this thread sees it asleep.
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(condition)
                pthread_mutex_unlock(mutex)
            }
            runSlices(body)
            var spins = 0
            while acknowledged.load(ordering: .acquiring) < workerCount {
                spins += 1
                if spins > 1000 { sched_yield() }
            }
            job = Self.idle
            return true
        }
    }

    /// Runs slices of the current job. Not inlined, so that this worker's reference to the caller's
    /// closure is released when it returns, before the acknowledgement: the caller's
    /// `withoutActuallyEscaping` checks that no reference is left.
    @inline(never)
    private func runJob() {
        let body = job
        runSlices(body)
    }

    private func runSlices(_ body: (Int) -> Void) {
        while case let slice = nextSlice.add(1, ordering: .relaxed).oldValue, slice < sliceCount { body(slice) }
    }

    /// What a new worker thread is handed: the pool, its index, and the last generation it must not
    /// run (read before the thread starts, so a job published meanwhile is not missed).
    private final class Start {
        let pool: WorkerPool, index: Int, generation: Int
        init(pool: WorkerPool, index: Int, generation: Int) { (self.pool, self.index, self.generation) = (pool, index, generation) }
    }

    /// Starts one more worker; false if the system would not create a thread (the jobs then run
    /// on the workers there are, or on the caller alone).
    private func startWorker() -> Bool {
        let start = Unmanaged.passRetained(Start(pool: self, index: workerCount, generation: generation.load(ordering: .acquiring)))
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { context in
            let start = Unmanaged<Start>.fromOpaque(context!).takeRetainedValue()
            start.pool.work(index: start.index, seen: start.generation)
        }, start.toOpaque())
        guard status == 0 else {
            start.release()
            return false
        }
        pthread_detach(thread)
        workerCount += 1
        return true
    }

    /// A worker's life: wait for the next generation, run slices of it, acknowledge.
    private func work(index: Int, seen initial: Int) -> Never {
        var seen = initial
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins < Self.spinsBeforeSleep { continue }
                pthread_mutex_lock(mutex)
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen { pthread_cond_wait(condition, mutex) }
                sleepers.subtract(1, ordering: .relaxed)
                pthread_mutex_unlock(mutex)
            }
            seen = generation.load(ordering: .acquiring)
            if index < helperCount { runJob() }
            acknowledged.add(1, ordering: .releasing)
        }
    }
}
