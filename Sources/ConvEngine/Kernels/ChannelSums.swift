// Per-channel sums over the rows of NHWC activations viewed as [M × C] (M = N·H·W): batch-norm
// statistics and gradients, bias gradients. Sums run in Float over blocks of `sumBlock` rows (so the
// channel loops vectorise at full width) and each block is folded into Double, so large batches do
// not drift.

/// Rows summed in Float before folding into Double.
let sumBlock = 32

/// Scratch for two per-channel sums over rows, computed in row slices on `Parallel`'s threads: each
/// slice sums blocks of `sumBlock` rows in Float and folds them into its own Double sums, and the
/// slices are added in order, so the result does not depend on the thread count.
final class ChannelSums {
    /// The most slices a sum is cut into.
    static let maximumSlices = 8
    /// Channels per sum.
    let channels: Int
    /// The two results, `[2][C]`.
    let total: UnsafeMutablePointer<Double>
    private let sliceSums: UnsafeMutablePointer<Double>, blockSums: UnsafeMutablePointer<Float>

    /// Scratch for sums over `channels` channels.
    init(channels: Int) {
        self.channels = channels
        total = .allocate(capacity: 2 * channels)
        sliceSums = .allocate(capacity: Self.maximumSlices * 2 * channels)
        blockSums = .allocate(capacity: Self.maximumSlices * 2 * channels)
    }

    deinit {
        total.deallocate()
        sliceSums.deallocate()
        blockSums.deallocate()
    }

    /// Sets `total` to the sums over rows `0..<M` of what `rowSums.add(rows:_:_:)` adds into two
    /// zeroed Float vectors of C channels for a block of rows.
    @inline(__always)
    func sum<Rows: RowSums>(rows M: Int, _ rowSums: Rows) {
        let C = channels
        let slices = Parallel.sliceCount(M, grain: max(sumBlock, elementGrain / C), maximumSlices: Self.maximumSlices)
        Parallel.forEachRange(
            of: M, slices: slices,
            SumSlices(rowSums: rowSums, C: C, sliceSums: sliceSums, blockSums: blockSums))
        total.update(repeating: 0, count: 2 * C)
        for slice in 0..<slices {
            let sums = sliceSums + slice * 2 * C
            for i in 0..<(2 * C) { total[i] += sums[i] }
        }
    }
}

/// What a per-channel sum adds for a block of rows: into `first` and `second`, two Float vectors of
/// C channels (zeroed before each block).
protocol RowSums {
    /// Adds the contribution of `rows` into `first` and `second`.
    func add(rows: Range<Int>, _ first: UnsafeMutablePointer<Float>, _ second: UnsafeMutablePointer<Float>)
}

/// A slice of `ChannelSums.sum`: blocks of `sumBlock` rows summed in Float, folded into the
/// slice's own Double sums.
private struct SumSlices<Rows: RowSums>: RangeJob {
    let rowSums: Rows, C: Int, sliceSums: UnsafeMutablePointer<Double>, blockSums: UnsafeMutablePointer<Float>

    func run(range rows: Range<Int>, slice: Int) {
        let sums = sliceSums + slice * 2 * C, block = blockSums + slice * 2 * C
        sums.update(repeating: 0, count: 2 * C)
        var start = rows.lowerBound
        while start < rows.upperBound {
            let end = min(start + sumBlock, rows.upperBound)
            block.update(repeating: 0, count: 2 * C)
            rowSums.add(rows: start..<end, block, block + C)
            for i in 0..<(2 * C) { sums[i] += Double(block[i]) }
            start = end
        }
    }
}
