import ConvEngine
import ConvModels
import Foundation
import MallocInterposerSwift
import Testing

/// The thread whose allocations are counted, and the count. Read by a C hook, so they are globals.
nonisolated(unsafe) private var watchedThread = pthread_self()
nonisolated(unsafe) private var watchedAllocations = 0

/// Counts the heap allocations `body` makes on the calling thread (other tests running in parallel
/// on other threads are not counted). The interposer replaces malloc for the whole test binary by
/// being linked into it.
func countAllocations(_ body: () throws -> Void) rethrows -> Int {
    watchedThread = pthread_self()
    watchedAllocations = 0
    MallocInterposerSwift.setAllocationHook { _ in
        if pthread_equal(pthread_self(), watchedThread) != 0 { watchedAllocations += 1 }
    }
    MallocInterposerSwift.hook()
    defer {
        MallocInterposerSwift.unhook()
        MallocInterposerSwift.setAllocationHook(nil)
    }
    try body()
    return watchedAllocations
}

@Suite(.serialized) struct AllocationTests {
    @Test func theCounterSeesAllocations() {
        let count = countAllocations { _ = Array(repeating: UUID().uuidString, count: 3).joined() }
        #expect(count > 0)
    }

    @Test(arguments: [try! ModelConfiguration(family: .seed),
                      try! ModelConfiguration(family: .mobilenet, widthMultiplier: 0.25, stem: .cifar),
                      try! ModelConfiguration(family: .mobilenet, widthMultiplier: 0.25, stem: .cifar, standard: true)])
    func aTrainingStepAllocatesNothing(_ config: ModelConfiguration) throws {
        let network = try config.makeNetwork(maxBatchSize: 4, seed: 1)
        let optimizer = try SGD(parameters: network.trainableParameters, momentum: 0.9, weightDecay: .l2(5e-4))
        let loss = try SoftmaxCrossEntropy(labelSmoothing: 0.1)
        let batch = syntheticBatch(step: 0, batch: 4, side: config.resolution, classes: 10)
        try network.input.copy(from: batch.images)
        // On one thread. With two, each call that hands work to the other thread makes one small
        // allocation: `withoutActuallyEscaping`, which lets the worker call the caller's closure,
        // boxes it (measured in isolation: one per call). OpenBLAS always runs single-threaded.
        try Parallel.withThreadCount(1) { try batch.labels.withUnsafeBufferPointer { labels in
            _ = try network.trainStep(labels: labels, loss: loss, optimizer: optimizer, learningRate: 0.01)  // warm-up
            let allocations = try countAllocations {
                for _ in 0..<3 { _ = try network.trainStep(labels: labels, loss: loss, optimizer: optimizer, learningRate: 0.01) }
            }
            #expect(allocations == 0, "\(config.displayName): \(allocations) allocations in 3 steps")
        } }
    }
}
