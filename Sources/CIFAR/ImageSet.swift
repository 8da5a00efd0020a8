import ConvEngine
import Foundation

/// A labelled set of images as the batch loader reads it: CIFAR's records, images decoded once and
/// kept in memory, or image files decoded as batches are assembled.
public struct ImageSet: Sendable {
    /// Where the pixels are.
    public enum Storage: Sendable {
        /// CIFAR's 32×32 planar records.
        case records(LabeledImages)
        /// Images decoded once, kept as bytes.
        case decoded([RGBImage])
        /// Image files, decoded when a batch needs them.
        case files([String])
    }

    /// The pixels.
    public let storage: Storage
    /// The label of each image.
    public let labels: [Int32]
    /// The side every image has when all are square and of one size (CIFAR's 32); nil when sizes vary.
    public let fixedSide: Int?

    /// CIFAR's records.
    public init(records: LabeledImages) {
        storage = .records(records)
        labels = records.labels
        fixedSide = LabeledImages.side
    }

    /// Images and labels; `fixedSide` is found from the images.
    ///
    /// - Throws: `EngineError.shapeMismatch` unless there is one label per image.
    public init(images: [RGBImage], labels: [Int32]) throws {
        guard images.count == labels.count else {
            throw EngineError.shapeMismatch("\(labels.count) labels for \(images.count) images")
        }
        storage = .decoded(images)
        self.labels = labels
        fixedSide = Self.commonSide(images.lazy.map { ($0.width, $0.height) })
    }

    /// Image files, their labels, and their sizes (from their headers).
    public init(files: [String], labels: [Int32], sizes: [(width: Int, height: Int)]) {
        storage = .files(files)
        self.labels = labels
        fixedSide = Self.commonSide(sizes)
    }

    static func commonSide<S: Sequence<(Int, Int)>>(_ sizes: S) -> Int? {
        var side: Int?
        for (w, h) in sizes {
            guard w == h, side == nil || side == w else { return nil }
            side = w
        }
        return side
    }

    /// The number of images.
    public var count: Int { labels.count }

    /// Whether pixels are decoded from files as batches need them.
    public var decodesOnTheFly: Bool { if case .files = storage { true } else { false } }

    /// Image `index`, decoded.
    ///
    /// - Throws: `EngineError` naming the file when a file cannot be read or decoded.
    public func image(at index: Int) throws -> RGBImage {
        switch storage {
        case .records(let records):
            return records.pixels.withUnsafeBufferPointer {
                RGBImage(planarRecord: $0.baseAddress! + index * LabeledImages.imageBytes)
            }
        case .decoded(let images):
            return images[index]
        case .files(let paths):
            guard let data = FileManager.default.contents(atPath: paths[index]) else {
                throw EngineError.io("cannot read \(paths[index])")
            }
            return try ImageDecoder.decode([UInt8](data), source: paths[index])
        }
    }

    /// A 64-bit hash of the set (FNV-1a over the labels and the pixels, or the file paths and sizes
    /// for files decoded on the fly), recorded with a run to tell its data apart from other data.
    public var fingerprint: UInt64 {
        switch storage {
        case .records(let records): return records.fingerprint
        case .decoded(let images):
            var hash = FNV1a()
            labels.withUnsafeBytes { hash.mix($0) }
            for image in images { image.pixels.withUnsafeBytes { hash.mix($0) } }
            return hash.value
        case .files(let paths):
            var hash = FNV1a()
            labels.withUnsafeBytes { hash.mix($0) }
            for path in paths {
                Array(path.utf8).withUnsafeBytes { hash.mix($0) }
                var size = ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int) ?? -1
                withUnsafeBytes(of: &size) { hash.mix($0) }
            }
            return hash.value
        }
    }
}
