import CIFAR
import CTurboJPEG
import CZlib
import ConvEngine
import Foundation
import Testing

/// The committed image fixtures (Tests/Fixtures/make_image_fixtures.py): files, Pillow's decodes,
/// torchvision's transforms.
enum ImageFixtures {
    static let file: SafeTensors = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/images.safetensors")
        return (try? SafeTensors(contentsOf: url)) ?? SafeTensors()
    }()

    static func bytes(_ name: String) throws -> [UInt8] {
        guard let entry = file.entries[name] else { throw EngineError.corruptData("no fixture \(name)") }
        return entry.bytes
    }

    static func image(_ name: String) throws -> RGBImage {
        guard let entry = file.entries[name], entry.shape.count == 3 else { throw EngineError.corruptData("no fixture \(name)") }
        return try RGBImage(width: entry.shape[1], height: entry.shape[0], pixels: entry.bytes)
    }
}

/// Writes small PNGs by hand (zlib for the data), in every colour type and bit depth.
enum PNGWriter {
    static func chunk(_ kind: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(kind.utf8) + data
        let crc = body.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        return be32(UInt32(data.count)) + body + be32(crc)
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    /// A PNG of `rows` (each without its filter byte).
    static func png(width: Int, height: Int, depth: UInt8, type: UInt8, rows: [[UInt8]], extra: [[UInt8]] = []) -> [UInt8] {
        var raw = [UInt8]()
        for row in rows { raw += [0] + row }
        var compressed = [UInt8](repeating: 0, count: Int(compressBound(uLong(raw.count))))
        var length = uLong(compressed.count)
        _ = compress(&compressed, &length, raw, uLong(raw.count))
        let header = be32(UInt32(width)) + be32(UInt32(height)) + [depth, type, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header) + extra.joined()
            + chunk("IDAT", Array(compressed.prefix(Int(length)))) + chunk("IEND", [])
    }
}

/// Writes JPEGs with libjpeg-turbo, as a camera or an export would.
enum JPEGWriter {
    static func jpeg(_ image: RGBImage, quality: Int32 = 90) -> [UInt8] {
        let handle = tjInitCompress()
        defer { tjDestroy(handle) }
        var out: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        _ = image.pixels.withUnsafeBufferPointer {
            tjCompress2(
                handle, $0.baseAddress, Int32(image.width), 0, Int32(image.height), Int32(TJPF_RGB.rawValue), &out, &size,
                Int32(TJSAMP_444.rawValue), quality, 0)
        }
        defer { tjFree(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(size)))
    }
}

@Suite struct ImageDecoderTests {
    func expectError(_ bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try ImageDecoder.decode(bytes, source: "x.img")
            Issue.record("decoded", sourceLocation: sourceLocation)
        } catch let error as EngineError {
            #expect("\(error)".contains("x.img") && "\(error)".contains(fragment), "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(error)", sourceLocation: sourceLocation)
        }
    }

    /// Every fixture file decodes to exactly what Pillow's `convert("RGB")` gave: JPEG at 4:2:0 and
    /// 4:4:4, grey and progressive; PNG in RGB, grey, 1-bit, palette (with and without
    /// transparency), RGBA, grey + alpha, 16-bit grey, interlaced.
    @Test(arguments: [
        "jpeg_420", "jpeg_444", "jpeg_grey", "jpeg_progressive", "png_rgb", "png_grey", "png_grey_1bit",
        "png_palette", "png_palette_transparent", "png_rgba", "png_grey_alpha", "png_grey16", "png_interlaced",
    ])
    func decodesAsPillowDoes(_ name: String) throws {
        let bytes = try ImageFixtures.bytes(name + ".file")
        let decoded = try ImageDecoder.decode(bytes, source: name)
        let expected = try ImageFixtures.image(name + ".rgb")
        #expect(decoded.width == expected.width && decoded.height == expected.height)
        let differing = zip(decoded.pixels, expected.pixels).filter { $0 != $1 }.count
        #expect(differing == 0, "\(name): \(differing) of \(expected.pixels.count) bytes differ from Pillow's")
        let size = try ImageDecoder.size(of: bytes, source: name)
        #expect(size.width == 37 && size.height == 29)
    }

    /// Colour types written by hand, against the values Pillow gives for them (measured with
    /// Pillow 13): 16-bit samples cut to the high byte, but 16-bit grey clipped to 255; alpha dropped;
    /// low bit depths scaled; palette transparency ignored.
    @Test func pngColourTypesConvertAsPillowDoes() throws {
        func decode(_ bytes: [UInt8]) throws -> [UInt8] { try ImageDecoder.decode(bytes, source: "t.png").pixels }
        let rgb16 = PNGWriter.png(
            width: 2, height: 1, depth: 16, type: 2,
            rows: [[0x12, 0x34, 0x80, 0xFF, 0xFF, 0xFF, 0x00, 0xFF, 0x01, 0x00, 0x7F, 0x80]])
        #expect(try decode(rgb16) == [18, 128, 255, 0, 1, 127])
        let grey16 = PNGWriter.png(width: 3, height: 1, depth: 16, type: 0, rows: [[0x12, 0x34, 0x00, 0xC8, 0x00, 0x00]])
        #expect(try decode(grey16) == [255, 255, 255, 200, 200, 200, 0, 0, 0])
        let greyAlpha16 = PNGWriter.png(width: 1, height: 1, depth: 16, type: 4, rows: [[0xAB, 0xCD, 0x00, 0x00]])
        #expect(try decode(greyAlpha16) == [171, 171, 171])
        let rgba = PNGWriter.png(width: 2, height: 1, depth: 8, type: 6, rows: [[1, 2, 3, 0, 250, 251, 252, 128]])
        #expect(try decode(rgba) == [1, 2, 3, 250, 251, 252])
        let grey2 = PNGWriter.png(width: 4, height: 1, depth: 2, type: 0, rows: [[0b0001_1011]])
        #expect(try decode(grey2) == [0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255])
        let palette = PNGWriter.chunk("PLTE", [255, 0, 0, 0, 255, 0, 0, 0, 255]),
            transparency = PNGWriter.chunk("tRNS", [0, 128])
        let indexed = PNGWriter.png(width: 3, height: 1, depth: 8, type: 3, rows: [[0, 1, 2]], extra: [palette, transparency])
        #expect(try decode(indexed) == [255, 0, 0, 0, 255, 0, 0, 0, 255])
    }

    /// A JPEG written by libjpeg-turbo reads back close to its pixels (it is lossy), at its size.
    @Test func jpegRoundTrips() throws {
        let pixels: [UInt8] = (0..<(24 * 16 * 3)).map { (i: Int) -> UInt8 in
            let x = i / 3 % 24, y = i / 72, c = i % 3
            return UInt8(60 + x * 4 + y * 3 + c * 20)
        }
        let image = try RGBImage(width: 24, height: 16, pixels: pixels)
        let decoded = try ImageDecoder.decode(JPEGWriter.jpeg(image, quality: 100), source: "q.jpg")
        #expect(decoded.width == 24 && decoded.height == 16)
        #expect(zip(decoded.pixels, pixels).allSatisfy { abs(Int($0) - Int($1)) <= 16 })
    }

    /// Truncated, corrupt and unknown files are errors that name the file; nothing crashes.
    @Test func badFilesAreErrorsNamingTheFile() throws {
        let jpeg = try ImageFixtures.bytes("jpeg_420.file"), png = try ImageFixtures.bytes("png_rgb.file")
        expectError(Array(jpeg.prefix(jpeg.count * 3 / 4)), "truncated JPEG")
        expectError(Array(jpeg.prefix(jpeg.count / 2)), "JPEG")
        expectError(Array(jpeg.prefix(40)), "JPEG")
        expectError(Array(png.prefix(png.count / 2)), "PNG")
        var crc = png
        crc[40] ^= 0xFF
        expectError(crc, "PNG")
        expectError(Array("GIF89a....".utf8), "not a JPEG, PNG or PPM/PGM image")
        expectError([], "not a JPEG, PNG or PPM/PGM image")
        // A header claiming 2^31 × 2^31 pixels.
        var huge = PNGWriter.png(width: 1, height: 1, depth: 8, type: 2, rows: [[1, 2, 3]])
        huge.replaceSubrange(16..<24, with: PNGWriter.be32(0x7FFF_FFFF) + PNGWriter.be32(0x7FFF_FFFF))
        expectError(huge, "PNG")
    }
}
