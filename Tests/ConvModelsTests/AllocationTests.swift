import ConvModels
import Foundation
import MallocInterposerSwift
import Synchronization
import Testing

@testable import ConvEngine

/// The thread whose allocations are counted, and the count. Read by a C hook, so they are globals;
/// the count is atomic because the workers' allocations are counted from their own threads.
nonisolated(unsafe) private var watchedThread = pthread_self()
private let watchedAllocations = Atomic<Int>(0)

/// Counts the heap allocations `body` makes on the calling thread and on the engine's worker threads
/// (other tests running in parallel on their own threads are not counted; a kernel slice of theirs
/// that the workers run meanwhile is, and must not allocate either). The interposer replaces malloc
/// for the whole test binary by being linked into it.
func countAllocations(_ body: () throws -> Void) rethrows -> Int {
    watchedThread = pthread_self()
    watchedAllocations.store(0, ordering: .sequentiallyConsistent)
    _ = WorkerPool.isWorkerThread  // creates its thread key before the hook asks for it
    MallocInterposerSwift.setAllocationHook { _ in
        if pthread_equal(pthread_self(), watchedThread) != 0 || WorkerPool.isWorkerThread {
            watchedAllocations.add(1, ordering: .relaxed)
        }
    }
    MallocInterposerSwift.hook()
    defer {
        MallocInterposerSwift.unhook()
        MallocInterposerSwift.setAllocationHook(nil)
    }
    try body()
    return watchedAllocations.load(ordering: .sequentiallyConsistent)
}

@Suite(.serialized) struct AllocationTests {
    @Test func theCounterSeesAllocations() {
        let count = countAllocations { _ = Array(repeating: UUID().uuidString, count: 3).joined() }
        #expect(count > 0)
    }

    /// Three training steps on one thread and on two, where every parallel kernel hands slices to a
    /// worker: no allocation on this thread or on the workers. Tests running in parallel can keep
    /// the workers busy (a kernel then runs on its calling thread alone), so with two threads the
    /// steps are repeated until some work was handed off.
    @Test(
        .serialized,
        arguments: [
            try! ModelConfiguration(family: .seed),
            try! ModelConfiguration(family: .mobilenet, widthMultiplier: 0.25, stem: .cifar),
            try! ModelConfiguration(family: .mobilenet, widthMultiplier: 0.25, stem: .cifar, standard: true),
        ],
        [1, 2])
    func aTrainingStepAllocatesNothing(_ config: ModelConfiguration, threads: Int) throws {
        let network = try config.makeNetwork(maxBatchSize: 16, seed: 1)
        let optimizer = try SGD(parameters: network.trainableParameters, momentum: 0.9, weightDecay: .l2(5e-4))
        let loss = try SoftmaxCrossEntropy(labelSmoothing: 0.1)
        let batch = syntheticBatch(step: 0, batch: 16, side: config.resolution, classes: 10)
        try network.input.copy(from: batch.images)
        try Parallel.withThreadCount(threads) {
            try batch.labels.withUnsafeBufferPointer { labels in
                _ = try network.trainStep(labels: labels, loss: loss, optimizer: optimizer, learningRate: 0.01)  // warm-up
                var handOffs = 0
                for _ in 0..<20 where handOffs == 0 {
                    let allocations = try countAllocations {
                        handOffs = try WorkerPool.countingHandOffs {
                            for _ in 0..<3 {
                                _ = try network.trainStep(labels: labels, loss: loss, optimizer: optimizer, learningRate: 0.01)
                            }
                        }
                    }
                    #expect(allocations == 0, "\(config.displayName), \(threads) threads: \(allocations) allocations in 3 steps")
                    if threads == 1 { break }
                }
                #expect((handOffs > 0) == (threads > 1), "\(config.displayName), \(threads) threads: \(handOffs) hand-offs")
            }
        }
    }

    /// A data-parallel step hands the gradients to a closure before the update (`beforeUpdate`),
    /// which captures and changes the step's result: that allocates nothing either.
    @Test func aStepWithWorkBeforeTheUpdateAllocatesNothing() throws {
        let config = try ModelConfiguration(family: .seed)
        let network = try config.makeNetwork(maxBatchSize: 16, seed: 1)
        let optimizer = try SGD(parameters: network.trainableParameters, momentum: 0.9)
        let loss = try SoftmaxCrossEntropy()
        let batch = syntheticBatch(step: 0, batch: 16, side: config.resolution, classes: 10)
        try network.input.copy(from: batch.images)
        try batch.labels.withUnsafeBufferPointer { labels in
            var seen = SoftmaxCrossEntropy.Result(loss: 0, correct: 0)
            func step() throws {
                _ = try network.trainStep(labels: labels, loss: loss, optimizer: optimizer, learningRate: 0.01) { result in
                    seen = .init(loss: result.loss * 2, correct: result.correct)
                }
            }
            try step()  // warm-up
            let allocations = try countAllocations { for _ in 0..<3 { try step() } }
            #expect(allocations == 0, "\(allocations) allocations in 3 steps")
            #expect(seen.loss > 0)
        }
    }
}
