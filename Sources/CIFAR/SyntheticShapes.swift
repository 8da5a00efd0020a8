import ConvEngine

/// A procedurally drawn 10-class image set in CIFAR's record layout, for demos and tests on machines
/// without CIFAR: one shape per image, of random colour, position and size, on a random background,
/// with pixel noise. The same seed gives the same images on every machine.
public enum SyntheticShapes {
    /// The class names, indexed by label.
    public static let classNames = [
        "circle", "square", "triangle", "ring", "frame",
        "horizontal bar", "vertical bar", "plus", "cross", "diamond",
    ]

    /// A data set of `trainCount` training and `testCount` test images (disjoint draws).
    ///
    /// - Throws: `EngineError.invalidArgument` for a non-positive count.
    public static func dataset(trainCount: Int = 10_000, testCount: Int = 2_000, seed: UInt64 = 0) throws -> CIFARDataset {
        try require(trainCount > 0 && testCount > 0, "synthetic set sizes must be positive, got \(trainCount) and \(testCount)")
        return CIFARDataset(
            variant: .cifar10, train: images(count: trainCount, seed: seed, split: 0),
            test: images(count: testCount, seed: seed, split: 1), classNames: classNames,
            source: "synthetic shapes (seed \(seed))")
    }

    /// `count` images; image i depends only on (seed, split, i).
    static func images(count: Int, seed: UInt64, split: UInt64) -> LabeledImages {
        var pixels = [UInt8](repeating: 0, count: count * LabeledImages.imageBytes)
        var labels = [Int32](repeating: 0, count: count)
        pixels.withUnsafeMutableBufferPointer { buffer in
            for i in 0..<count {
                var g = RandomGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 ^ split << 62 ^ UInt64(i))
                let label = Int(g.next() % 10)
                labels[i] = Int32(label)
                draw(label, into: buffer.baseAddress! + i * LabeledImages.imageBytes, &g)
            }
        }
        return LabeledImages(consistentPixels: pixels, labels: labels)
    }

    /// Whether (dx, dy) from the centre lies inside shape `label` of half-size s.
    static func inside(_ label: Int, _ dx: Float, _ dy: Float, _ s: Float) -> Bool {
        let ax = abs(dx), ay = abs(dy)
        switch label {
        case 0: return dx * dx + dy * dy <= s * s
        case 1: return ax <= 0.8 * s && ay <= 0.8 * s
        case 2:  // upward triangle: apex at the top, base at 0.8 s below the centre
            let t = (dy + s) / (1.8 * s)
            return t >= 0 && t <= 1 && ax <= t * s
        case 3:
            let r2 = dx * dx + dy * dy
            return r2 <= s * s && r2 >= 0.3 * s * s
        case 4: return max(ax, ay) <= 0.85 * s && max(ax, ay) >= 0.5 * s
        case 5: return ay <= 0.3 * s && ax <= s
        case 6: return ax <= 0.3 * s && ay <= s
        case 7: return (ax <= 0.25 * s && ay <= s) || (ay <= 0.25 * s && ax <= s)
        case 8: return max(ax, ay) <= s && abs(ax - ay) <= 0.35 * s
        default: return ax + ay <= s
        }
    }

    private static func draw(_ label: Int, into image: UnsafeMutablePointer<UInt8>, _ g: inout RandomGenerator) {
        // Background and foreground colours far enough apart to see.
        var background = (0..<3).map { _ in Float(g.next() % 256) }
        var foreground = (0..<3).map { _ in Float(g.next() % 256) }
        while zip(background, foreground).map({ abs($0 - $1) }).reduce(0, +) < 200 {
            background = (0..<3).map { _ in Float(g.next() % 256) }
            foreground = (0..<3).map { _ in Float(g.next() % 256) }
        }
        let size = 6 + Float(g.next() % 7)  // half-size 6…12 pixels
        let margin = Int(size * 0.6)
        let cx = Float(margin + Int(g.next() % UInt64(32 - 2 * margin)))
        let cy = Float(margin + Int(g.next() % UInt64(32 - 2 * margin)))
        let noise: Float = 12 + Float(g.next() % 20)
        for y in 0..<32 {
            for x in 0..<32 {
                let isShape = inside(label, Float(x) + 0.5 - cx, Float(y) + 0.5 - cy, size)
                for c in 0..<3 {
                    let base = isShape ? foreground[c] : background[c]
                    let value = base + (g.nextUniform() * 2 - 1) * noise
                    image[c * 1024 + y * 32 + x] = UInt8(min(max(value, 0), 255))
                }
            }
        }
    }
}
