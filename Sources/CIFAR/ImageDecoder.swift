import CTurboJPEG
import ConvEngine
import PNGDecoder

/// Decodes image files to RGB with the real codecs: JPEG through libjpeg-turbo, PNG through libpng,
/// binary PPM/PGM by hand. Colour conversions follow Pillow's `Image.convert("RGB")`, so that a
/// folder decodes to the pixels torchvision's `ImageFolder` would see: grey replicated, palettes
/// expanded, alpha dropped, 16-bit samples cut to their high byte (16-bit grey clipped to 255), and
/// JPEG with libjpeg-turbo's accurate integer IDCT and smooth upsampling, as Pillow's defaults.
public enum ImageDecoder {
    /// The file formats understood, by their first bytes.
    public enum Format: String, Sendable {
        case jpeg, png, netpbm
    }

    /// The most pixels an image may have (a 16384 × 16384 image), so that a forged header cannot
    /// ask for more memory than a photograph needs.
    public static let maximumPixels = 1 << 28

    /// The format of `bytes`, from its signature; nil when it is none of them.
    public static func format(of bytes: [UInt8]) -> Format? {
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if bytes.count >= 2, bytes[0] == UInt8(ascii: "P"), bytes[1] == UInt8(ascii: "5") || bytes[1] == UInt8(ascii: "6") {
            return .netpbm
        }
        return nil
    }

    /// Decodes an image file held in memory; `source` names it in errors.
    ///
    /// - Throws: `EngineError.corruptData` naming the file for anything that is not a whole JPEG,
    ///   PNG or PPM/PGM image (truncated, corrupt, too large, CMYK JPEG).
    public static func decode(_ bytes: [UInt8], source: String) throws -> RGBImage {
        switch format(of: bytes) {
        case .jpeg: return try decodeJPEG(bytes, source: source)
        case .png: return try decodePNG(bytes, source: source)
        case .netpbm: return try ImageFile.decodeNetpbm(bytes, source: source)
        case nil: throw EngineError.corruptData("\(source): not a JPEG, PNG or PPM/PGM image")
        }
    }

    /// The width and height in an image file's header, without decoding it.
    ///
    /// - Throws: `EngineError.corruptData` naming the file when the header is not readable.
    public static func size(of bytes: [UInt8], source: String) throws -> (width: Int, height: Int) {
        switch format(of: bytes) {
        case .jpeg:
            return try withDecompressor(source) { handle in
                let header = try readJPEGHeader(handle, bytes, source: source)
                return (header.width, header.height)
            }
        case .png:
            var image = mnc_png_image()
            guard bytes.withUnsafeBufferPointer({ mnc_png_read_size($0.baseAddress, $0.count, &image) }) == 0 else {
                throw EngineError.corruptData("\(source): \(message(of: &image))")
            }
            return (Int(image.width), Int(image.height))
        case .netpbm:
            let image = try ImageFile.decodeNetpbm(bytes, source: source)
            return (image.width, image.height)
        case nil:
            throw EngineError.corruptData("\(source): not a JPEG, PNG or PPM/PGM image")
        }
    }

    // MARK: JPEG

    private static func withDecompressor<R>(_ source: String, _ body: (tjhandle) throws -> R) throws -> R {
        guard let handle = tjInitDecompress() else { throw EngineError.io("\(source): libjpeg-turbo could not start") }
        defer { tjDestroy(handle) }
        return try body(handle)
    }

    private static func readJPEGHeader(_ handle: tjhandle, _ bytes: [UInt8], source: String) throws -> (
        width: Int, height: Int, colorspace: Int32
    ) {
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let status = bytes.withUnsafeBufferPointer {
            tjDecompressHeader3(handle, $0.baseAddress, UInt(clamping: $0.count), &width, &height, &subsampling, &colorspace)
        }
        guard status == 0 else {
            throw EngineError.corruptData("\(source): corrupt JPEG (\(String(cString: tjGetErrorStr2(handle))))")
        }
        guard width > 0, height > 0, Int(width) * Int(height) <= maximumPixels else {
            throw EngineError.corruptData("\(source): a JPEG of \(width)×\(height) pixels is out of range")
        }
        return (Int(width), Int(height), colorspace)
    }

    private static func decodeJPEG(_ bytes: [UInt8], source: String) throws -> RGBImage {
        try withDecompressor(source) { handle in
            let header = try readJPEGHeader(handle, bytes, source: source)
            guard header.colorspace != Int32(TJCS_CMYK.rawValue), header.colorspace != Int32(TJCS_YCCK.rawValue) else {
                throw EngineError.corruptData("\(source): CMYK JPEG images are not supported")
            }
            var pixels = [UInt8](repeating: 0, count: header.width * header.height * 3)
            let status = bytes.withUnsafeBufferPointer { input in
                pixels.withUnsafeMutableBufferPointer { output in
                    tjDecompress2(
                        handle, input.baseAddress, UInt(clamping: input.count), output.baseAddress, Int32(header.width), 0,
                        Int32(header.height), Int32(TJPF_RGB.rawValue), 0)
                }
            }
            if status != 0 {
                let reason = String(cString: tjGetErrorStr2(handle))
                // libjpeg-turbo decodes past most recoverable problems and calls them warnings, as
                // Pillow does; a file that ends early is an error in Pillow ("image file is truncated").
                if tjGetErrorCode(handle) != Int32(TJERR_WARNING.rawValue) || reason.contains("Premature end") {
                    throw EngineError.corruptData("\(source): corrupt or truncated JPEG (\(reason))")
                }
            }
            return RGBImage(unchecked: header.width, header.height, pixels)
        }
    }

    // MARK: PNG

    private static func message(of image: inout mnc_png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private static func decodePNG(_ bytes: [UInt8], source: String) throws -> RGBImage {
        var image = mnc_png_image()
        let status = bytes.withUnsafeBufferPointer { mnc_png_decode_rgb($0.baseAddress, $0.count, maximumPixels, &image) }
        guard status == 0, let data = image.pixels else {
            throw EngineError.corruptData("\(source): corrupt or truncated PNG (\(message(of: &image)))")
        }
        defer { mnc_png_free(&image) }
        let (width, height) = (Int(image.width), Int(image.height))
        return RGBImage(unchecked: width, height, Array(UnsafeBufferPointer(start: data, count: width * height * 3)))
    }
}
