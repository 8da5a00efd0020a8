import ConvEngine

/// Images given one by one (for prediction): binary PPM/PGM files, or files of CIFAR records.
public enum ImageFile {
    /// Decodes a binary PPM (P6) or PGM (P5) image of any size with a maximum value up to 255, and
    /// resamples it bilinearly to a 32×32 CIFAR record (grey images become three equal planes).
    ///
    /// - Throws: `EngineError.corruptData` naming the file and what is wrong with its header or size.
    public static func netpbm(_ bytes: [UInt8], source: String) throws -> [UInt8] {
        func corrupt(_ why: String) -> EngineError { .corruptData("\(source): \(why)") }
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "P"), bytes[1] == UInt8(ascii: "5") || bytes[1] == UInt8(ascii: "6") else {
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
                value = value * 10 + Int(bytes[position] - 48); position += 1; digits += 1
            }
            guard digits > 0 else { throw corrupt("malformed header (width, height and maximum value expected)") }
            fields.append(value)
        }
        position += 1  // the single whitespace after the maximum value
        let (width, height, maxValue) = (fields[0], fields[1], fields[2])
        guard width > 0, height > 0, width <= 16384, height <= 16384 else { throw corrupt("image size \(width)×\(height) is out of range") }
        guard maxValue > 0, maxValue <= 255 else { throw corrupt("maximum value \(maxValue) is not in 1...255 (16-bit images are not supported)") }
        guard bytes.count - position >= width * height * channels else {
            throw corrupt("holds \(max(0, bytes.count - position)) pixel bytes, needs \(width * height * channels) (truncated?)")
        }
        var record = [UInt8](repeating: 0, count: LabeledImages.imageBytes)
        let side = LabeledImages.side
        for y in 0..<side { for x in 0..<side {
            // Bilinear sample at the centre of the target pixel.
            let sx = max(0, (Double(x) + 0.5) * Double(width) / Double(side) - 0.5)
            let sy = max(0, (Double(y) + 0.5) * Double(height) / Double(side) - 0.5)
            let x0 = min(Int(sx), width - 1), y0 = min(Int(sy), height - 1)
            let x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
            let fx = sx - Double(x0), fy = sy - Double(y0)
            for c in 0..<3 {
                let ch = channels == 3 ? c : 0
                func p(_ px: Int, _ py: Int) -> Double { Double(bytes[position + (py * width + px) * channels + ch]) }
                let v = (p(x0, y0) * (1 - fx) + p(x1, y0) * fx) * (1 - fy) + (p(x0, y1) * (1 - fx) + p(x1, y1) * fx) * fy
                record[c * side * side + y * side + x] = UInt8(min(255, max(0, (v * 255 / Double(maxValue)).rounded())))
            }
        } }
        return record
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
        throw EngineError.corruptData("\(source): \(bytes.count) bytes is neither a PPM/PGM image nor whole CIFAR records (3073 or 3074 bytes each)")
    }
}
