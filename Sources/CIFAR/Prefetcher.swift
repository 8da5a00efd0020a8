import ConvEngine
import Foundation
import Synchronization

/// A background thread that assembles the batch after the one being consumed, into two buffers.
final class Prefetcher: @unchecked Sendable {
    private var assembler: Assembler
    private let slots: [FloatStorage]
    private let slotLabels: [UnsafeMutablePointer<Int32>]
    private let slotCounts = UnsafeMutablePointer<Int>.allocate(capacity: 2)
    /// What went wrong assembling each slot's batch (an image that cannot be decoded), if anything.
    private var slotErrors: [Error?] = [nil, nil]
    // All start at 0: libdispatch traps when a semaphore is freed below its initial value, so the two
    // free slots are signalled in init instead.
    private let filled = DispatchSemaphore(value: 0), free = DispatchSemaphore(value: 0), finished = DispatchSemaphore(value: 0)
    private var consumerSlot = 0
    private let stopping = Atomic<Bool>(false)
    private let batchSize: Int
    private let floatsPerImage: Int
    /// Seconds `take` spent blocked, waiting for a batch not yet assembled.
    private(set) var waitedSeconds = 0.0

    init(assembler: Assembler, from position: BatchLoader.Position, batchesPerEpoch: Int, floatsPerImage: Int, batchSize: Int) {
        self.assembler = assembler
        self.batchSize = batchSize
        self.floatsPerImage = floatsPerImage
        slots = [FloatStorage(count: batchSize * floatsPerImage), FloatStorage(count: batchSize * floatsPerImage)]
        slotLabels = [.allocate(capacity: batchSize), .allocate(capacity: batchSize)]
        slotCounts.initialize(repeating: 0, count: 2)
        free.signal()
        free.signal()
        let thread = Thread { [self] in
            var p = position, slot = 0
            while true {
                free.wait()
                if stopping.load(ordering: .acquiring) { break }
                do {
                    slotCounts[slot] = try self.assembler.assemble(
                        p, batchesPerEpoch: batchesPerEpoch, images: slots[slot].data,
                        labels: slotLabels[slot])
                    slotErrors[slot] = nil
                } catch {
                    slotErrors[slot] = error
                }
                p = BatchLoader.advance(p, batchesPerEpoch: batchesPerEpoch)
                slot ^= 1
                filled.signal()
            }
            finished.signal()
        }
        thread.name = "mobilenet.prefetch"
        thread.start()
    }

    /// Waits for the next assembled batch and copies it out.
    ///
    /// - Throws: what assembling it threw (an image that cannot be decoded).
    func take(images: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) throws -> Int {
        let start = DispatchTime.now().uptimeNanoseconds
        filled.wait()
        waitedSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        defer {
            consumerSlot ^= 1
            free.signal()
        }
        if let error = slotErrors[consumerSlot] { throw error }
        let count = slotCounts[consumerSlot]
        images.update(from: slots[consumerSlot].data, count: count * floatsPerImage)
        labels.update(from: slotLabels[consumerSlot], count: count)
        return count
    }

    /// Ends the thread and waits for it.
    func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        free.signal()
        finished.wait()
        for labels in slotLabels { labels.deallocate() }
        slotCounts.deallocate()
    }
}
