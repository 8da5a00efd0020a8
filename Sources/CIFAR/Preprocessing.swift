import ConvEngine

/// How pixel bytes become network inputs.
public enum Normalization: Equatable, Sendable {
    /// (pixel/255 − mean[c]) / std[c] per channel.
    case meanStd(mean: [Float], std: [Float])
    /// pixel/127.5 − 1, the seed's scaling to [−1, 1].
    case seed

    /// CIFAR-10's usual statistics (the PyTorch CIFAR reference models').
    public static let cifar10 = Normalization.meanStd(mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.2010])
    /// CIFAR-100's usual statistics.
    public static let cifar100 = Normalization.meanStd(mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762])
    /// ImageNet's statistics, torchvision's for image folders.
    public static let imagenet = Normalization.meanStd(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])

    /// Per channel: input = pixel · scale[c] + shift[c], in the float32 arithmetic the pipeline uses.
    public var scaleAndShift: (scale: [Float], shift: [Float]) {
        switch self {
        case .seed: return ([Float](repeating: 1 / 127.5, count: 3), [Float](repeating: -1, count: 3))
        case .meanStd(let mean, let std):
            return ((0..<3).map { 1 / (255 * std[$0]) }, (0..<3).map { -mean[$0] / std[$0] })
        }
    }

    /// Throws unless mean/std have three entries and every std is positive.
    func validated() throws -> Normalization {
        if case .meanStd(let mean, let std) = self {
            try require(mean.count == 3 && std.count == 3, "normalisation needs 3 means and 3 standard deviations")
            try require(std.allSatisfy { $0 > 0 }, "normalisation standard deviations must be positive, got \(std)")
        }
        return self
    }
}

/// Training-time augmentation, as torchvision's RandomCrop(32, padding) + RandomHorizontalFlip:
/// the image is padded with black pixels (zero before normalisation), a 32×32 window is cut at a random
/// offset, and it is mirrored with probability ½.
public struct Augmentation: Equatable, Sendable {
    /// Padding on each side before the random crop (0 disables cropping).
    public var padding: Int
    /// Whether to mirror horizontally at random.
    public var horizontalFlip: Bool

    /// The usual CIFAR augmentation: padding 4 and flips.
    public static let standard = Augmentation(padding: 4, horizontalFlip: true)

    /// Creates an augmentation.
    public init(padding: Int, horizontalFlip: Bool) {
        self.padding = padding
        self.horizontalFlip = horizontalFlip
    }
}

/// Writes one CIFAR record as an NHWC float image `[32, 32, 3]`, shifted by (dx, dy) with black
/// fill (the crop of the padded image) and mirrored when `flip`.
func assembleImage(
    _ record: UnsafePointer<UInt8>, dx: Int, dy: Int, flip: Bool,
    scale: (Float, Float, Float), shift: (Float, Float, Float), into out: UnsafeMutablePointer<Float>
) {
    let side = LabeledImages.side, plane = side * side
    for y in 0..<side {
        let sy = y + dy
        for x in 0..<side {
            let o = out + (y * side + x) * 3
            let sx = (flip ? side - 1 - x : x) + dx
            if sy < 0 || sy >= side || sx < 0 || sx >= side {
                o[0] = shift.0
                o[1] = shift.1
                o[2] = shift.2  // a black pixel, normalised
                continue
            }
            let p = sy * side + sx
            o[0] = Float(record[p]) * scale.0 + shift.0
            o[1] = Float(record[plane + p]) * scale.1 + shift.1
            o[2] = Float(record[2 * plane + p]) * scale.2 + shift.2
        }
    }
}
