import ConvEngine

/// Images and labels in CIFAR's record layout: each image is 3,072 bytes, 1,024 red then 1,024 green
/// then 1,024 blue, each plane 32×32 row-major.
public struct LabeledImages: Equatable, Sendable {
    /// Bytes per image (3 × 32 × 32).
    public static let imageBytes = 3072
    /// Image side in pixels.
    public static let side = 32

    /// The pixels, `count × 3072` bytes, planar per image.
    public var pixels: [UInt8]
    /// The label of each image (the fine label for CIFAR-100).
    public var labels: [Int32]
    /// CIFAR-100's coarse (super-class) label of each image; empty for CIFAR-10.
    public var coarseLabels: [Int32]

    /// The number of images.
    public var count: Int { labels.count }

    /// Creates a set; the pixel count must be `labels.count × 3072` and coarse labels, when given,
    /// one per image.
    public init(pixels: [UInt8], labels: [Int32], coarseLabels: [Int32] = []) throws {
        guard pixels.count == labels.count * Self.imageBytes else {
            throw EngineError.shapeMismatch("\(pixels.count) pixel bytes do not make \(labels.count) images of 3072 bytes")
        }
        guard coarseLabels.isEmpty || coarseLabels.count == labels.count else {
            throw EngineError.shapeMismatch("\(coarseLabels.count) coarse labels for \(labels.count) images")
        }
        self.pixels = pixels
        self.labels = labels
        self.coarseLabels = coarseLabels
    }

    /// Creates a set whose sizes the caller has made consistent.
    init(consistentPixels pixels: [UInt8], labels: [Int32]) {
        self.pixels = pixels
        self.labels = labels
        coarseLabels = []
    }

    /// Appends another set's images.
    mutating func append(_ other: LabeledImages) {
        pixels += other.pixels
        labels += other.labels
        coarseLabels += other.coarseLabels
    }

    /// A 64-bit FNV-1a hash of the labels and pixels, in order: recorded with a run, so that a resumed
    /// run can tell whether the data it is given is the data it trained on.
    public var fingerprint: UInt64 {
        var hash = FNV1a()
        labels.withUnsafeBytes { hash.mix($0) }
        pixels.withUnsafeBytes { hash.mix($0) }
        return hash.value
    }

    /// Throws unless every label is below `classCount`; `source` names the file in the message.
    func validateLabels(classCount: Int, coarseClassCount: Int? = nil, source: String) throws {
        if let i = labels.firstIndex(where: { $0 < 0 || Int($0) >= classCount }) {
            throw EngineError.corruptData("\(source): label \(labels[i]) of image \(i) is outside 0..<\(classCount)")
        }
        if let coarse = coarseClassCount, let i = coarseLabels.firstIndex(where: { $0 < 0 || Int($0) >= coarse }) {
            throw EngineError.corruptData("\(source): coarse label \(coarseLabels[i]) of image \(i) is outside 0..<\(coarse)")
        }
    }
}
