import ConvEngine
import Foundation

/// How an image becomes a network input of `side` × `side` pixels: torchvision's transforms, by the
/// same names, parameters and arithmetic (on the Pillow images `ImageFolder` loads).
public enum ImageTransform: Equatable, Sendable {
    /// For sets of fixed-size images (CIFAR): `RandomCrop(S, padding)` + `RandomHorizontalFlip()` at
    /// the images' own size S when training (`augmentation`), then `Resize(side)` when side ≠ S.
    case fixedSize(augmentation: Augmentation?, side: Int)
    /// ImageNet-style training: `RandomResizedCrop(side, scale, ratio)` + `RandomHorizontalFlip()`.
    case randomResizedCrop(side: Int, scale: ClosedRange<Double> = 0.08...1, ratio: ClosedRange<Double> = 0.75...(4.0 / 3))
    /// ImageNet-style evaluation: `Resize(Int(side / 0.875))` (the shorter edge) + `CenterCrop(side)`.
    case resizeCenterCrop(side: Int)

    /// torchvision's spelling of the transform.
    public var description: String {
        switch self {
        case .fixedSize(let a, let side):
            let crop =
                a.map { "RandomCrop(padding=\($0.padding))" + ($0.horizontalFlip ? " + RandomHorizontalFlip()" : "") + ", then " }
                ?? ""
            return crop + "Resize(\(side)) where the images are not \(side)×\(side)"
        case .randomResizedCrop(let side, let scale, let ratio):
            return
                "RandomResizedCrop(\(side), scale=(\(scale.lowerBound), \(scale.upperBound)), ratio=(\(String(format: "%.3g", ratio.lowerBound)), \(String(format: "%.3g", ratio.upperBound)))) + RandomHorizontalFlip()"
        case .resizeCenterCrop(let side):
            return "Resize(\(Int(Double(side) / 0.875))) + CenterCrop(\(side))"
        }
    }

    /// The output side.
    public var side: Int {
        switch self {
        case .fixedSize(_, let side), .randomResizedCrop(let side, _, _), .resizeCenterCrop(let side): return side
        }
    }

    /// The transform that prepares `images` for a model of input `side`: the fixed-size pipeline when
    /// every image has the same square size (as CIFAR's), ImageNet's otherwise.
    ///
    /// - Parameters:
    ///   - fixedSide: the side every image has, or nil when sizes vary.
    ///   - training: whether to augment (a random crop and flip) rather than evaluate.
    public static func choose(side: Int, fixedSide: Int?, training: Bool, augment: Bool) -> ImageTransform {
        if let fixedSide {
            return .fixedSize(augmentation: training && augment ? .scaled(to: fixedSide) : nil, side: side)
        }
        return training && augment ? .randomResizedCrop(side: side) : .resizeCenterCrop(side: side)
    }

    /// Applies the transform; `generator` draws the random crop and flip.
    public func apply(_ image: RGBImage, generator: inout RandomGenerator) -> RGBImage {
        switch self {
        case .fixedSize(let augmentation, let side):
            var out = image
            if let a = augmentation {
                if a.padding > 0 {
                    let dx = Int(generator.next() % UInt64(2 * a.padding + 1)),
                        dy = Int(generator.next() % UInt64(2 * a.padding + 1))
                    out = out.cropped(left: dx - a.padding, top: dy - a.padding, width: out.width, height: out.height)
                }
                if a.horizontalFlip && generator.next() & 1 == 1 { out = out.flippedHorizontally() }
            }
            return out.resized(width: side, height: side)
        case .randomResizedCrop(let side, let scale, let ratio):
            let box = Self.randomResizedCropBox(
                width: image.width, height: image.height, scale: scale, ratio: ratio, generator: &generator)
            var out = image.cropped(left: box.left, top: box.top, width: box.width, height: box.height).resized(
                width: side, height: side)
            if generator.next() & 1 == 1 { out = out.flippedHorizontally() }
            return out
        case .resizeCenterCrop(let side):
            let resized = Self.resizeShorterSide(image, to: Int(Double(side) / 0.875))
            return Self.centerCrop(resized, side: side)
        }
    }

    /// torchvision's `RandomResizedCrop.get_params`: up to ten tries at an area fraction in `scale`
    /// and a log-uniform aspect ratio in `ratio` that fit the image, else the central crop of the
    /// nearest allowed ratio. (The draws come from `generator`, not torch's generator.)
    public static func randomResizedCropBox(
        width: Int, height: Int, scale: ClosedRange<Double>, ratio: ClosedRange<Double>,
        generator: inout RandomGenerator
    ) -> (left: Int, top: Int, width: Int, height: Int) {
        let area = Double(width * height)
        let logRatio = log(ratio.lowerBound)...log(ratio.upperBound)
        for _ in 0..<10 {
            let targetArea = area * uniform(scale, &generator)
            let aspect = exp(uniform(logRatio, &generator))
            let w = Int(pythonRound((targetArea * aspect).squareRoot()))
            let h = Int(pythonRound((targetArea / aspect).squareRoot()))
            if w > 0 && w <= width && h > 0 && h <= height {
                let top = Int(generator.next() % UInt64(height - h + 1)), left = Int(generator.next() % UInt64(width - w + 1))
                return (left, top, w, h)
            }
        }
        let inRatio = Double(width) / Double(height)
        var (w, h) = (width, height)
        if inRatio < ratio.lowerBound {
            h = Int(pythonRound(Double(w) / ratio.lowerBound))
        } else if inRatio > ratio.upperBound {
            w = Int(pythonRound(Double(h) * ratio.upperBound))
        }
        return ((width - w) / 2, (height - h) / 2, w, h)
    }

    /// torchvision's `Resize(size)` with an int: the shorter edge becomes `size`, the longer
    /// `Int(size × long / short)`; the image itself when that is its size.
    public static func resizeShorterSide(_ image: RGBImage, to size: Int) -> RGBImage {
        let (short, long) = (min(image.width, image.height), max(image.width, image.height))
        let newLong = Int(Double(size) * Double(long) / Double(short))
        return image.width <= image.height
            ? image.resized(width: size, height: newLong)
            : image.resized(width: newLong, height: size)
    }

    /// torchvision's `CenterCrop(side)`: the window at round((H − side) / 2), round((W − side) / 2),
    /// Python's rounding (half to even); black beyond a smaller image.
    public static func centerCrop(_ image: RGBImage, side: Int) -> RGBImage {
        let top = Int(pythonRound(Double(image.height - side) / 2)), left = Int(pythonRound(Double(image.width - side) / 2))
        return image.cropped(left: left, top: top, width: side, height: side)
    }

    private static func uniform(_ range: ClosedRange<Double>, _ generator: inout RandomGenerator) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * Double(generator.next() >> 11) / Double(1 << 53)
    }

    /// Python 3's `round`: to nearest, ties to even.
    static func pythonRound(_ x: Double) -> Double { x.rounded(.toNearestOrEven) }
}

extension Augmentation {
    /// CIFAR's augmentation for images of side `side`: padding side / 8 (4 at 32) and flips.
    public static func scaled(to side: Int) -> Augmentation {
        Augmentation(padding: max(1, side / 8), horizontalFlip: true)
    }
}
