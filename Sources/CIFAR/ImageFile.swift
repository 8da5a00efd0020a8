import ConvEngine

/// Images given one by one (for prediction): binary PPM/PGM files, or files of CIFAR records.
/// (JPEG and PNG files go through `ImageDecoder`.)
public enum ImageFile {
    /// Decodes a binary PPM (P6) or PGM (P5) image of any size with a maximum value up to 255 to RGB
    /// (grey images become three equal channels; samples are scaled to 0–255).
    ///
    /// - Throws: `EngineError.corruptData` naming the file and what is wrong with its header or size.
    public static func decodeNetpbm(_ bytes: [UInt8], source: String) throws -> RGBImage {
        func corrupt(_ why: String) -> EngineError { .corruptData("\(source): \(why)") }
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "P"), bytes[1] == UInt8(ascii: "5") || bytes[1] == UInt8(ascii: "6")
        else {
            throw corrupt("not a binary PPM (P6) or PGM (P5) image")
        }
        let channels = bytes[1] == UInt8(ascii: "6") ? 3 : 1
        var position = 2, fields: [Int] = []
        while fields.count < 3 {
            while position < bytes.count, bytes[position] == UInt8(ascii: "#") || [9, 10, 13, 32].contains(bytes[position]) {
                if bytes[position] == UInt8(ascii: "#") { while position < bytes.count, bytes[position] != 10 { position += 1 } }
                position += 1
            }
            var value = 0, digits = 0
            while position < bytes.count, (48...57).contains(bytes[position]), digits < 9 {
                value = value * 10 + Int(bytes[position] - 48)
                position += 1
                digits += 1
            }
            guard digits > 0 else { throw corrupt("malformed header (width, height and maximum value expected)") }
            fields.append(value)
        }
        position += 1  // the single whitespace after the maximum value
        let (width, height, maxValue) = (fields[0], fields[1], fields[2])
        guard width > 0, height > 0, width <= 16384, height <= 16384 else {
            throw corrupt("image size \(width)×\(height) is out of range")
        }
        guard maxValue > 0, maxValue <= 255 else {
            throw corrupt("maximum value \(maxValue) is not in 1...255 (16-bit images are not supported)")
        }
        guard bytes.count - position >= width * height * channels else {
            throw corrupt("holds \(max(0, bytes.count - position)) pixel bytes, needs \(width * height * channels) (truncated?)")
        }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for p in 0..<(width * height) {
            for c in 0..<3 {
                let v = Int(bytes[position + p * channels + (channels == 3 ? c : 0)])
                pixels[3 * p + c] = UInt8(min(255, (v * 255 + maxValue / 2) / maxValue))
            }
        }
        return RGBImage(unchecked: width, height, pixels)
    }

    /// The records of a CIFAR-format file (one label byte, or two for CIFAR-100, before 3,072 pixels).
    ///
    /// - Throws: `EngineError.corruptData` when the size is not a whole number of records of either kind.
    public static func records(_ bytes: [UInt8], source: String) throws -> [(pixels: [UInt8], label: Int)] {
        for labelBytes in [1, 2] {
            let size = labelBytes + LabeledImages.imageBytes
            if !bytes.isEmpty && bytes.count % size == 0 {
                return (0..<(bytes.count / size)).map { i in
                    (Array(bytes[(i * size + labelBytes)..<((i + 1) * size)]), Int(bytes[i * size + labelBytes - 1]))
                }
            }
        }
        throw EngineError.corruptData(
            "\(source): \(bytes.count) bytes is neither a PPM/PGM image nor whole CIFAR records (3073 or 3074 bytes each)")
    }
}
