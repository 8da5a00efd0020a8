import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The engine's own worker threads, behind `Parallel.forEachSlice`.
///
/// A job is published by bumping a generation counter; every worker runs slices of it (taking the
/// next unstarted one from a shared counter, as the calling thread does) and then acknowledges it;
/// the caller returns once every worker has. Between jobs a worker spins briefly on the generation
/// before it sleeps on a condition variable, so the back-to-back kernels of a training step reach
/// workers that are awake. The job is the caller's `SliceJob` value, which the workers read where it
/// lies on the caller's stack (its address and its type are published with the generation), so a
/// hand-off allocates nothing.
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
    /// acknowledge it), where the caller's job value lies, and its type.
    private var sliceCount = 0
    private var helperCount = 0
    private var job: UnsafeRawPointer?
    private var jobType: any SliceJob.Type = NoJob.self

    /// Set (to any non-nil value) on the pool's worker threads.
    private static let workerMark = makeKey()
    /// On a thread inside `countingHandOffs`, the counter of the jobs it has handed to workers.
    private static let handOffCounter = makeKey()

    private static func makeKey() -> pthread_key_t {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }

    /// Whether the calling thread is one of the pool's workers.
    static var isWorkerThread: Bool { pthread_getspecific(workerMark) != nil }

    /// Runs `body` and returns how many jobs the calling thread handed to the workers meanwhile (jobs
    /// it ran alone, with one thread or while the pool was busy, do not count).
    static func countingHandOffs(_ body: () throws -> Void) rethrows -> Int {
        var count = 0
        try withUnsafeMutablePointer(to: &count) { counter in
            pthread_setspecific(handOffCounter, counter)
            defer { pthread_setspecific(handOffCounter, nil) }
            try body()
        }
        return count
    }

    init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    /// Runs `job.run(slice:)` for every slice in `0..<slices` on the calling thread and `helpers`
    /// workers.
    ///
    /// - Returns: false, having run nothing, when the pool is busy with another job.
    func run<Job: SliceJob>(_ slices: Int, helpers: Int, _ job: Job) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        while workerCount < helpers, startWorker() {}
        if let handOffs = pthread_getspecific(Self.handOffCounter) { handOffs.assumingMemoryBound(to: Int.self).pointee += 1 }
        withUnsafePointer(to: job) { job in
            sliceCount = slices
            helperCount = helpers
            self.job = UnsafeRawPointer(job)
            jobType = Job.self
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
            runSlices(job)
            // The job value must outlive every worker's use of it: wait for all to acknowledge.
            var spins = 0
            while acknowledged.load(ordering: .acquiring) < workerCount {
                spins += 1
                if spins > 1000 { sched_yield() }
            }
            self.job = nil
        }
        return true
    }

    /// Runs slices of the current job on a worker, its type opened from `jobType`.
    private func runJob() {
        guard let job else { return }
        func run<Job: SliceJob>(_: Job.Type) { runSlices(job.assumingMemoryBound(to: Job.self)) }
        run(jobType)
    }

    private func runSlices<Job: SliceJob>(_ job: UnsafePointer<Job>) {
        while case let slice = nextSlice.add(1, ordering: .relaxed).oldValue, slice < sliceCount { job.pointee.run(slice: slice) }
    }

    /// What a new worker thread is handed: the pool, its index, and the last generation it must not
    /// run (read before the thread starts, so a job published meanwhile is not missed).
    private final class Start {
        let pool: WorkerPool, index: Int, generation: Int
        init(pool: WorkerPool, index: Int, generation: Int) {
            (self.pool, self.index, self.generation) = (pool, index, generation)
        }
    }

    /// Starts one more worker; false if the system would not create a thread (the jobs then run
    /// on the workers there are, or on the caller alone).
    private func startWorker() -> Bool {
        let start = Unmanaged.passRetained(
            Start(pool: self, index: workerCount, generation: generation.load(ordering: .acquiring)))
        var thread = pthread_t()
        let status = pthread_create(
            &thread, nil,
            { context in
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
        pthread_setspecific(Self.workerMark, UnsafeRawPointer(bitPattern: 1))
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

/// The job type published while the pool is idle; never run.
private struct NoJob: SliceJob {
    func run(slice: Int) {}
}
