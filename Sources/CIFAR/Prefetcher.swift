import ConvEngine
import Foundation
import Synchronization

/// A background thread that assembles the batch after the one being consumed, into two buffers.
final class Prefetcher: @unchecked Sendable {
    private var assembler: Assembler
    private let slots: [FloatStorage]
    private let slotLabels: [UnsafeMutablePointer<Int32>]
    private let slotCounts = UnsafeMutablePointer<Int>.allocate(capacity: 2)
    // All start at 0: libdispatch traps when a semaphore is freed below its initial value, so the two
    // free slots are signalled in init instead.
    private let filled = DispatchSemaphore(value: 0), free = DispatchSemaphore(value: 0), finished = DispatchSemaphore(value: 0)
    private var consumerSlot = 0
    private let stopping = Atomic<Bool>(false)
    private let batchSize: Int

    init(assembler: Assembler, from position: BatchLoader.Position, batchesPerEpoch: Int, batchFloats: Int, batchSize: Int) {
        self.assembler = assembler
        self.batchSize = batchSize
        slots = [FloatStorage(count: batchFloats), FloatStorage(count: batchFloats)]
        slotLabels = [.allocate(capacity: batchSize), .allocate(capacity: batchSize)]
        slotCounts.initialize(repeating: 0, count: 2)
        free.signal()
        free.signal()
        let thread = Thread { [self] in
            var p = position, slot = 0
            while true {
                free.wait()
                if stopping.load(ordering: .acquiring) { break }
                slotCounts[slot] = self.assembler.assemble(p, batchesPerEpoch: batchesPerEpoch, images: slots[slot].data, labels: slotLabels[slot])
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
    func take(images: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) -> Int {
        filled.wait()
        let count = slotCounts[consumerSlot]
        images.update(from: slots[consumerSlot].data, count: count * LabeledImages.imageBytes)
        labels.update(from: slotLabels[consumerSlot], count: count)
        consumerSlot ^= 1
        free.signal()
        return count
    }

    /// Ends the thread and waits for it.
    func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        free.signal()
        finished.wait()
        slotLabels.forEach { $0.deallocate() }
        slotCounts.deallocate()
    }
}
