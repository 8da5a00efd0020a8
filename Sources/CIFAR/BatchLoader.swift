import ConvEngine
import Foundation

/// Turns a `LabeledImages` set into batches of NHWC float32 images and labels: shuffled per epoch from
/// a seed, augmented, normalised, optionally assembled on a background thread while the previous step
/// runs (prefetch).
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
        /// Augmentation, or nil for none (evaluation).
        public var augmentation: Augmentation?
        /// Pixel normalisation.
        public var normalization: Normalization
        /// Whether to drop the last, smaller batch of an epoch (true) or deliver it (false).
        public var dropLastPartialBatch: Bool
        /// The seed of the order and the augmentation.
        public var seed: UInt64

        /// Creates options.
        public init(batchSize: Int, shuffle: Bool = true, augmentation: Augmentation? = nil,
                    normalization: Normalization = .cifar10, dropLastPartialBatch: Bool = true, seed: UInt64 = 0) {
            self.batchSize = batchSize
            self.shuffle = shuffle
            self.augmentation = augmentation
            self.normalization = normalization
            self.dropLastPartialBatch = dropLastPartialBatch
            self.seed = seed
        }
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
    public let images: LabeledImages
    /// The options.
    public let options: Options
    /// Batches delivered per epoch.
    public let batchesPerEpoch: Int
    /// The next batch to deliver.
    public private(set) var position = Position(epoch: 0, batch: 0)

    private var assembler: Assembler
    private var prefetcher: Prefetcher?

    /// Creates a loader positioned at the first batch of epoch 0.
    ///
    /// - Throws: `EngineError.invalidArgument` for a non-positive batch size, a batch larger than the
    ///   set when the last partial batch is dropped, an empty set or a bad normalisation.
    public init(images: LabeledImages, options: Options) throws {
        try require(options.batchSize > 0, "batch size must be positive, got \(options.batchSize)")
        try require(images.count > 0, "the image set is empty")
        try require(!options.dropLastPartialBatch || options.batchSize <= images.count,
                    "batch size \(options.batchSize) is larger than the \(images.count) images, and partial batches are dropped")
        if let a = options.augmentation { try require(a.padding >= 0 && a.padding < 32, "crop padding must be in 0..<32, got \(a.padding)") }
        _ = try options.normalization.validated()
        self.images = images
        self.options = options
        batchesPerEpoch = options.dropLastPartialBatch ? images.count / options.batchSize
            : (images.count + options.batchSize - 1) / options.batchSize
        assembler = Assembler(images: images, options: options)
    }

    deinit { prefetcher?.stop() }

    /// Floats one batch of images needs: batchSize × 32 × 32 × 3.
    public var imageFloatsPerBatch: Int { options.batchSize * LabeledImages.imageBytes }

    /// Moves to `position` (for resuming); restarts prefetching from there.
    ///
    /// - Throws: `EngineError.invalidArgument` for a batch index past the epoch's end.
    public func seek(to position: Position) throws {
        try require(position.batch < batchesPerEpoch, "batch \(position.batch) is past the \(batchesPerEpoch) batches of an epoch")
        let wasPrefetching = prefetcher != nil
        stopPrefetching()
        self.position = position
        if wasPrefetching { startPrefetching() }
    }

    /// Assembles batches on a background thread, one ahead of the consumer (two buffers).
    public func startPrefetching() {
        guard prefetcher == nil else { return }
        prefetcher = Prefetcher(assembler: Assembler(images: images, options: options), from: position,
                                batchesPerEpoch: batchesPerEpoch, batchFloats: imageFloatsPerBatch, batchSize: options.batchSize)
    }

    /// Stops the background thread (batches then are assembled on the caller's thread).
    public func stopPrefetching() {
        prefetcher?.stop()
        prefetcher = nil
    }

    /// Writes the next batch and advances `position`.
    ///
    /// - Parameters:
    ///   - images: room for `imageFloatsPerBatch` floats; receives NHWC `[n, 32, 32, 3]`.
    ///   - labels: room for `batchSize` labels.
    /// - Returns: the number of images n (smaller than the batch size only for a kept last batch).
    @discardableResult
    public func next(images: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) -> Int {
        let count: Int
        if let prefetcher {
            count = prefetcher.take(images: images, labels: labels)
        } else {
            count = assembler.assemble(position, batchesPerEpoch: batchesPerEpoch, images: images, labels: labels)
        }
        position = Self.advance(position, batchesPerEpoch: batchesPerEpoch)
        return count
    }

    static func advance(_ p: Position, batchesPerEpoch: Int) -> Position {
        p.batch + 1 < batchesPerEpoch ? Position(epoch: p.epoch, batch: p.batch + 1) : Position(epoch: p.epoch + 1, batch: 0)
    }
}
