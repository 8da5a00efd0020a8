import ConvEngine
import Foundation

/// Turns an `ImageSet` into batches of NHWC float32 images and labels: shuffled per epoch from a seed,
/// transformed to the network's input size (`ImageTransform`, with augmentation when training),
/// normalised, optionally assembled on a background thread while the previous step runs (prefetch),
/// images decoded on the fly on several threads when the set keeps files.
///
/// Every batch is a pure function of (seed, epoch, batch index): the epoch's order comes from a
/// generator seeded with (seed, epoch), each image's crop and flip from one seeded with
/// (seed, epoch, position in the epoch). So prefetching changes nothing, and a resumed run that
/// restores `position` sees exactly the batches an uninterrupted one would.
public final class BatchLoader: @unchecked Sendable {
    /// What a loader does.
    public struct Options: Equatable, Sendable {
        /// Images per batch.
        public var batchSize: Int
        /// Whether to reshuffle every epoch (off: the set's own order).
        public var shuffle: Bool
        /// How each image becomes an input of `transform.side` pixels square (with augmentation when training).
        public var transform: ImageTransform
        /// Pixel normalisation.
        public var normalization: Normalization
        /// Whether to drop the last, smaller batch of an epoch (true) or deliver it (false).
        public var dropLastPartialBatch: Bool
        /// The seed of the order and the augmentation.
        public var seed: UInt64
        /// Threads that decode and transform the images of a batch when the set decodes image files
        /// on the fly (in-memory sets use one).
        public var decodeThreads: Int
        /// Which contiguous part of every batch this loader delivers (a process of a data-parallel
        /// run takes its own); the whole batch by default.
        public var shard = Shard.whole
        /// The side of a square blanked at a random place in each image, after normalisation (so
        /// to the data's mean when normalised by mean and deviation): Cutout (DeVries & Taylor,
        /// 2017), its centre anywhere in the image and the square clipped at the edges; 0: none.
        public var cutout = 0

        /// Creates options.
        public init(
            batchSize: Int, shuffle: Bool = true, transform: ImageTransform = .fixedSize(augmentation: nil, side: 32),
            normalization: Normalization = .cifar10, dropLastPartialBatch: Bool = true, seed: UInt64 = 0,
            decodeThreads: Int = ProcessInfo.processInfo.activeProcessorCount
        ) {
            self.batchSize = batchSize
            self.shuffle = shuffle
            self.transform = transform
            self.normalization = normalization
            self.dropLastPartialBatch = dropLastPartialBatch
            self.seed = seed
            self.decodeThreads = decodeThreads
        }

        /// These options delivering `shard` of every batch.
        public func sharded(_ shard: Shard) -> Options {
            var o = self
            o.shard = shard
            return o
        }
    }

    /// Part `index` of `count` equal contiguous parts of every batch: items
    /// `n·index/count ..< n·(index+1)/count` of a batch of n. The batch order, and each image's
    /// augmentation, are the whole batch's, so the parts of all processes are the batch one process
    /// would see.
    public struct Shard: Equatable, Sendable {
        /// This part, from 0.
        public var index: Int
        /// How many parts.
        public var count: Int

        /// The whole batch.
        public static let whole = Shard(index: 0, count: 1)

        /// Creates a shard.
        public init(index: Int, count: Int) {
            self.index = index
            self.count = count
        }

        /// The items of a batch of `n` that are this part's.
        public func items(of n: Int) -> Range<Int> { (n * index / count)..<(n * (index + 1) / count) }
    }

    /// Where the loader is: the next batch it will deliver. Save it with a checkpoint to resume.
    public struct Position: Equatable, Sendable, CustomStringConvertible {
        /// The epoch, from 0.
        public var epoch: Int
        /// The batch within the epoch, from 0.
        public var batch: Int

        /// Creates a position.
        public init(epoch: Int, batch: Int) {
            self.epoch = epoch
            self.batch = batch
        }

        public var description: String { "\(epoch):\(batch)" }

        /// Parses "epoch:batch".
        public init?(_ text: String) {
            let parts = text.split(separator: ":").compactMap { Int($0) }
            guard parts.count == 2, parts[0] >= 0, parts[1] >= 0 else { return nil }
            (epoch, batch) = (parts[0], parts[1])
        }
    }

    /// The images.
    public let images: ImageSet
    /// The options.
    public let options: Options
    /// Batches delivered per epoch.
    public let batchesPerEpoch: Int
    /// The next batch to deliver.
    public private(set) var position = Position(epoch: 0, batch: 0)
    /// Seconds the last `next` waited for its batch to be assembled: the whole assembly without
    /// prefetching, only what the prefetch thread had not finished with it (the copy out excluded).
    public private(set) var lastWaitSeconds = 0.0

    private var assembler: Assembler
    private var prefetcher: Prefetcher?

    /// Creates a loader positioned at the first batch of epoch 0.
    ///
    /// - Throws: `EngineError.invalidArgument` for a non-positive batch size or output side, a batch
    ///   larger than the set when the last partial batch is dropped, an empty set, a crop padding
    ///   outside 0..<side, or a bad normalisation.
    public init(images: ImageSet, options: Options) throws {
        try require(options.batchSize > 0, "batch size must be positive, got \(options.batchSize)")
        try require(options.decodeThreads > 0, "decode threads must be positive, got \(options.decodeThreads)")
        try require(
            options.shard.count > 0 && (0..<options.shard.count).contains(options.shard.index),
            "shard \(options.shard.index) of \(options.shard.count) does not exist")
        try require(
            options.shard.count <= options.batchSize,
            "a batch of \(options.batchSize) cannot be cut into \(options.shard.count) parts")
        try require(images.count > 0, "the image set is empty")
        try require(
            !options.dropLastPartialBatch || options.batchSize <= images.count,
            "batch size \(options.batchSize) is larger than the \(images.count) images, and partial batches are dropped")
        let side = options.transform.side
        try require(side > 0 && side <= 16384, "the input side must be in 1...16384, got \(side)")
        if case .fixedSize(let a?, _) = options.transform {
            try require(images.fixedSide != nil, "a random crop with padding needs images of one square size")
            try require(
                a.padding >= 0 && a.padding < images.fixedSide ?? 0,
                "crop padding must be in 0..<\(images.fixedSide ?? 0), got \(a.padding)")
        }
        _ = try options.normalization.validated()
        try require(
            options.cutout >= 0 && options.cutout <= side, "the Cutout side must be in 0...\(side), got \(options.cutout)")
        _ = try Checked.product(
            [options.batchSize, side, side, 3],
            orThrow: EngineError.invalidArgument("a batch of \(options.batchSize) images of \(side)×\(side) is too large"))
        self.images = images
        self.options = options
        batchesPerEpoch =
            options.dropLastPartialBatch
            ? images.count / options.batchSize
            : (images.count + options.batchSize - 1) / options.batchSize
        assembler = Assembler(images: images, options: options)
    }

    /// A loader over CIFAR's records.
    public convenience init(images: LabeledImages, options: Options) throws {
        try self.init(images: ImageSet(records: images), options: options)
    }

    deinit { prefetcher?.stop() }

    /// The shape of one image it delivers, NHWC without the batch: `[side, side, 3]`.
    public var itemShape: [Int] { [options.transform.side, options.transform.side, 3] }

    /// Floats one batch of images needs: batchSize × side × side × 3.
    public var imageFloatsPerBatch: Int { options.batchSize * Self.floatsPerImage(options) }

    static func floatsPerImage(_ options: Options) -> Int { options.transform.side * options.transform.side * 3 }

    /// Moves to `position` (for resuming); restarts prefetching from there.
    ///
    /// - Throws: `EngineError.invalidArgument` for a batch index past the epoch's end.
    public func seek(to position: Position) throws {
        try require(
            position.batch < batchesPerEpoch, "batch \(position.batch) is past the \(batchesPerEpoch) batches of an epoch")
        let wasPrefetching = prefetcher != nil
        stopPrefetching()
        self.position = position
        if wasPrefetching { startPrefetching() }
    }

    /// Assembles batches on a background thread, one ahead of the consumer (two buffers).
    public func startPrefetching() {
        guard prefetcher == nil else { return }
        prefetcher = Prefetcher(
            assembler: Assembler(images: images, options: options), from: position,
            batchesPerEpoch: batchesPerEpoch, floatsPerImage: Self.floatsPerImage(options),
            batchSize: options.batchSize)
    }

    /// Stops the background thread (batches then are assembled on the caller's thread).
    public func stopPrefetching() {
        prefetcher?.stop()
        prefetcher = nil
    }

    /// Writes the next batch and advances `position`.
    ///
    /// - Parameters:
    ///   - images: room for `imageFloatsPerBatch` floats; receives NHWC `[n, side, side, 3]`.
    ///   - labels: room for `batchSize` labels.
    /// - Returns: the number of images n: this shard's part of the batch (smaller than the batch
    ///   size with several shards, or for a kept last batch).
    /// - Throws: `EngineError` naming the file when an image decoded on the fly cannot be read.
    @discardableResult
    public func next(images: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) throws -> Int {
        let count: Int
        if let prefetcher {
            let before = prefetcher.waitedSeconds
            count = try prefetcher.take(images: images, labels: labels)
            lastWaitSeconds = prefetcher.waitedSeconds - before
        } else {
            let start = DispatchTime.now().uptimeNanoseconds
            count = try assembler.assemble(position, batchesPerEpoch: batchesPerEpoch, images: images, labels: labels)
            lastWaitSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        }
        position = Self.advance(position, batchesPerEpoch: batchesPerEpoch)
        return count
    }

    static func advance(_ p: Position, batchesPerEpoch: Int) -> Position {
        p.batch + 1 < batchesPerEpoch ? Position(epoch: p.epoch, batch: p.batch + 1) : Position(epoch: p.epoch + 1, batch: 0)
    }
}
