import CZlib
import ConvEngine

/// gzip (or zlib) decompression of a whole buffer, through the system's zlib.
enum Gzip {
    /// The most bytes a stream may inflate to: several times any CIFAR archive's contents (about
    /// 180 MB), so that a small file that claims to inflate without end is refused before it
    /// exhausts memory.
    static let maximumOutput = 1 << 30

    /// Inflates `data`; `source` names it in errors.
    ///
    /// - Throws: `EngineError.corruptData` for a stream that is not gzip, is corrupt, ends early, or
    ///   inflates past `limit` bytes.
    static func decompress(_ data: [UInt8], source: String, limit: Int = maximumOutput) throws -> [UInt8] {
        var stream = z_stream()
        // 15 + 32: the largest window, and detect gzip or zlib headers automatically.
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw EngineError.corruptData("\(source): zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var output = [UInt8]()
        output.reserveCapacity(min(limit, data.count * 2))
        let chunkSize = 1 << 20
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        var status: Int32 = Z_OK
        try data.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            repeat {
                let produced: Int = chunk.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(chunkSize)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return chunkSize - Int(stream.avail_out)
                }
                switch status {
                case Z_OK, Z_STREAM_END:
                    guard produced <= limit - output.count else {
                        throw EngineError.corruptData(
                            "\(source): inflates past \(limit >> 20) MiB, more than any CIFAR archive holds")
                    }
                    output += chunk[0..<produced]
                case Z_BUF_ERROR where stream.avail_in == 0:
                    throw EngineError.corruptData("\(source): the gzip stream ends early (truncated file?)")
                default:
                    let reason = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    throw EngineError.corruptData("\(source): corrupt gzip data (\(reason))")
                }
                if status == Z_OK && stream.avail_in == 0 && produced < chunkSize {
                    throw EngineError.corruptData("\(source): the gzip stream ends early (truncated file?)")
                }
            } while status != Z_STREAM_END
        }
        return output
    }
}
