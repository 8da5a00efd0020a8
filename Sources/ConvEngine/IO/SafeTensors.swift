import Foundation

/// A safetensors file in memory: named tensors plus a string metadata map, with the format's rules
/// enforced on read (huggingface/safetensors): an 8-byte little-endian header length, a JSON header,
/// then a byte buffer that the entries tile exactly, in order of their offsets, with no holes or overlaps.
public struct SafeTensors: Equatable, Sendable {
    /// The element types this implementation reads and writes.
    public enum DType: String, Sendable, CaseIterable {
        case f32 = "F32"
        case f64 = "F64"
        case i64 = "I64"
        case i32 = "I32"
        case u8 = "U8"

        /// Bytes per element.
        public var size: Int {
            switch self {
            case .f32, .i32: return 4
            case .f64, .i64: return 8
            case .u8: return 1
            }
        }
    }

    /// One stored tensor: its type, shape and little-endian bytes.
    public struct Entry: Equatable, Sendable {
        /// The element type.
        public var dtype: DType
        /// The extents (may be empty for a scalar).
        public var shape: [Int]
        /// The raw little-endian bytes, row-major.
        public var bytes: [UInt8]

        /// The number of elements.
        public var count: Int { shape.reduce(1, *) }
    }

    /// The largest header the format allows.
    public static let maxHeaderBytes = 100_000_000

    /// The tensors by name.
    public var entries: [String: Entry] = [:]
    /// The `__metadata__` map.
    public var metadata: [String: String] = [:]

    /// Creates an empty file.
    public init() {}

    // MARK: Typed access

    /// Stores float32 values under `name`.
    ///
    /// - Throws: `EngineError.shapeMismatch` when the count does not match the shape.
    public mutating func setFloats(_ name: String, shape: [Int], _ values: [Float]) throws {
        let mismatch = EngineError.shapeMismatch("\(name): \(values.count) values for shape \(shape)")
        guard shape.allSatisfy({ $0 >= 0 }), try Checked.product(shape, orThrow: mismatch) == values.count else { throw mismatch }
        var bytes = [UInt8](repeating: 0, count: values.count * 4)
        for (i, v) in values.enumerated() { storeLE(v.bitPattern, into: &bytes, at: i * 4) }
        entries[name] = Entry(dtype: .f32, shape: shape, bytes: bytes)
    }

    /// Stores int64 values under `name`.
    public mutating func setInt64s(_ name: String, shape: [Int], _ values: [Int64]) throws {
        let mismatch = EngineError.shapeMismatch("\(name): \(values.count) values for shape \(shape)")
        guard shape.allSatisfy({ $0 >= 0 }), try Checked.product(shape, orThrow: mismatch) == values.count else { throw mismatch }
        var bytes = [UInt8](repeating: 0, count: values.count * 8)
        for (i, v) in values.enumerated() { storeLE(UInt64(bitPattern: v), into: &bytes, at: i * 8) }
        entries[name] = Entry(dtype: .i64, shape: shape, bytes: bytes)
    }

    /// The float32 tensor `name` and its shape.
    ///
    /// - Throws: `EngineError.corruptData` when it is missing or not F32.
    public func floats(_ name: String) throws -> (shape: [Int], values: [Float]) {
        let e = try entry(name, .f32)
        return (e.shape, (0..<e.count).map { Float(bitPattern: loadLE(e.bytes, at: $0 * 4)) })
    }

    /// The int64 tensor `name` and its shape.
    public func int64s(_ name: String) throws -> (shape: [Int], values: [Int64]) {
        let e = try entry(name, .i64)
        return (e.shape, (0..<e.count).map { Int64(bitPattern: loadLE(e.bytes, at: $0 * 8)) })
    }

    private func entry(_ name: String, _ dtype: DType) throws -> Entry {
        guard let e = entries[name] else { throw EngineError.corruptData("missing tensor \"\(name)\"") }
        guard e.dtype == dtype else {
            throw EngineError.corruptData("tensor \"\(name)\" is \(e.dtype.rawValue), expected \(dtype.rawValue)")
        }
        return e
    }

    // MARK: Encoding

    /// The file's bytes: header padded with spaces to a multiple of 8, entries in name order.
    public func serialized() -> [UInt8] {
        var header: [String: Any] = [:]
        var offset = 0
        let names = entries.keys.sorted()
        for name in names {
            let e = entries[name]!
            header[name] = ["dtype": e.dtype.rawValue, "shape": e.shape, "data_offsets": [offset, offset + e.bytes.count]]
            offset += e.bytes.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        // Sorted keys keep the bytes identical run to run.
        var json = Array((try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data("{}".utf8))
        while (8 + json.count) % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var out = [UInt8](repeating: 0, count: 8)
        storeLE(UInt64(json.count), into: &out, at: 0)
        out += json
        out.reserveCapacity(out.count + offset)
        for name in names { out += entries[name]!.bytes }
        return out
    }

    /// Writes the file atomically: to a temporary file beside `url`, flushed, then renamed over it,
    /// so a crash never leaves a half-written file under `url`.
    public func write(to url: URL) throws {
        try AtomicFile.write(Data(serialized()), to: url)
    }

    // MARK: Decoding

    /// Reads and validates the file at `url`.
    ///
    /// - Throws: `EngineError.io` when it cannot be read, `EngineError.corruptData` naming the file and
    ///   the rule it breaks otherwise.
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw EngineError.io("cannot read \(url.path): \(error.localizedDescription)")
        }
        try self.init(bytes: [UInt8](data), source: url.path)
    }

    /// Parses and validates safetensors bytes; `source` names them in errors.
    public init(bytes: [UInt8], source: String = "safetensors data") throws {
        func corrupt(_ why: String) -> EngineError { .corruptData("\(source): \(why)") }
        guard bytes.count >= 8 else { throw corrupt("\(bytes.count) bytes is too short for the 8-byte header length") }
        let headerLength = loadLE(bytes, at: 0) as UInt64
        guard headerLength <= UInt64(Self.maxHeaderBytes) else {
            throw corrupt("header length \(headerLength) exceeds the 100 MB limit")
        }
        guard Int(headerLength) <= bytes.count - 8 else {
            throw corrupt("header length \(headerLength) runs past the end of the \(bytes.count)-byte file (truncated?)")
        }
        let headerBytes = bytes[8..<(8 + Int(headerLength))]
        guard headerBytes.first == UInt8(ascii: "{") else { throw corrupt("header does not start with '{'") }
        guard (try? JSONSerialization.jsonObject(with: Data(headerBytes))) is [String: Any] else {
            throw corrupt("header is not valid JSON")
        }
        let header: HeaderJSON
        do { header = try JSONDecoder().decode(HeaderJSON.self, from: Data(headerBytes)) } catch let error as HeaderJSON.Problem {
            throw corrupt(error.message)
        } catch {
            throw corrupt("header is malformed: \(error)")
        }
        metadata = header.metadata
        var spans: [(name: String, begin: Int, end: Int)] = []
        for (name, info) in header.entries {
            guard let dtype = DType(rawValue: info.dtype) else {
                throw corrupt("entry \"\(name)\" has unsupported dtype \(info.dtype)")
            }
            guard info.shape.allSatisfy({ $0 >= 0 }) else { throw corrupt("entry \"\(name)\" has a bad shape \(info.shape)") }
            let offsets = info.dataOffsets
            guard offsets.count == 2, offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw corrupt("entry \"\(name)\" data_offsets \(offsets) are not [begin, end] with 0 ≤ begin ≤ end")
            }
            let needed = try Checked.product(
                info.shape + [dtype.size], orThrow: corrupt("entry \"\(name)\" shape \(info.shape) is too large"))
            guard offsets[1] - offsets[0] == needed else {
                throw corrupt(
                    "entry \"\(name)\" spans \(offsets[1] - offsets[0]) bytes but shape \(info.shape) of \(info.dtype) needs \(needed)"
                )
            }
            spans.append((name, offsets[0], offsets[1]))
            entries[name] = Entry(dtype: dtype, shape: info.shape, bytes: [])
        }
        let buffer = bytes[(8 + Int(headerLength))...]
        spans.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var expected = 0
        for span in spans {
            if span.begin < expected { throw corrupt("entry \"\(span.name)\" overlaps the entry before it") }
            if span.begin > expected { throw corrupt("a hole of \(span.begin - expected) bytes precedes entry \"\(span.name)\"") }
            expected = span.end
        }
        guard expected == buffer.count else {
            throw corrupt(
                expected > buffer.count
                    ? "entries need \(expected) bytes of data but only \(buffer.count) follow the header (truncated?)"
                    : "\(buffer.count - expected) bytes after the last entry are not covered by any entry")
        }
        let base = buffer.startIndex
        for span in spans { entries[span.name]!.bytes = Array(bytes[(base + span.begin)..<(base + span.end)]) }
    }

    /// The header as JSON: entries by name, plus the optional string map `__metadata__`.
    private struct HeaderJSON: Decodable {
        struct Problem: Error { var message: String }
        struct Info: Decodable {
            var dtype: String
            var shape: [Int]
            var dataOffsets: [Int]
            enum CodingKeys: String, CodingKey {
                case dtype, shape
                case dataOffsets = "data_offsets"
            }
        }
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        var entries: [String: Info] = [:]
        var metadata: [String: String] = [:]

        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            for key in container.allKeys {
                if key.stringValue == "__metadata__" {
                    guard let map = try? container.decode([String: String].self, forKey: key) else {
                        throw Problem(message: "__metadata__ must map strings to strings")
                    }
                    metadata = map
                } else {
                    guard let info = try? container.decode(Info.self, forKey: key) else {
                        throw Problem(
                            message:
                                "entry \"\(key.stringValue)\" lacks dtype, shape or data_offsets, or one of them is not of its type"
                        )
                    }
                    entries[key.stringValue] = info
                }
            }
        }
    }
}

@inline(__always)
func storeLE<T: FixedWidthInteger>(_ value: T, into bytes: inout [UInt8], at offset: Int) {
    for i in 0..<MemoryLayout<T>.size { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
}

@inline(__always)
func loadLE<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int) -> T {
    var v: T = 0
    for i in 0..<MemoryLayout<T>.size { v |= T(bytes[offset + i]) << (8 * i) }
    return v
}
