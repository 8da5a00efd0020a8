import ConvEngine

/// An 8-bit RGB image: rows top to bottom, pixels interleaved (HWC), as decoders produce it and the
/// transforms work on it.
public struct RGBImage: Equatable, Sendable {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// `width × height × 3` bytes.
    public var pixels: [UInt8]

    /// Creates an image from its pixels.
    ///
    /// - Throws: `EngineError.shapeMismatch` unless there are `width × height × 3` bytes.
    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0, pixels.count == width * height * 3 else {
            throw EngineError.shapeMismatch("\(pixels.count) bytes do not make a \(width)×\(height) RGB image")
        }
        self.init(unchecked: width, height, pixels)
    }

    init(unchecked width: Int, _ height: Int, _ pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A CIFAR record (1,024 red, 1,024 green, 1,024 blue bytes) as an image.
    public init(planarRecord record: UnsafePointer<UInt8>, side: Int = LabeledImages.side) {
        let plane = side * side
        var pixels = [UInt8](repeating: 0, count: plane * 3)
        for p in 0..<plane {
            pixels[3 * p] = record[p]
            pixels[3 * p + 1] = record[plane + p]
            pixels[3 * p + 2] = record[2 * plane + p]
        }
        self.init(unchecked: side, side, pixels)
    }

    /// The CIFAR record of a 32×32 image.
    var record: [UInt8] {
        let plane = width * height
        var out = [UInt8](repeating: 0, count: plane * 3)
        for p in 0..<plane { for c in 0..<3 { out[c * plane + p] = pixels[3 * p + c] } }
        return out
    }
}
