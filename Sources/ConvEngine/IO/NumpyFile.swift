import Foundation

/// NumPy's `.npy` format (version 1.0) for float32 arrays: what `numpy.load` reads.
public enum NumpyFile {
    /// The bytes of a C-order little-endian float32 array of `shape`.
    ///
    /// - Throws: `EngineError.shapeMismatch` when the value count does not match the shape.
    public static func encode(_ values: [Float], shape: [Int]) throws -> [UInt8] {
        let mismatch = EngineError.shapeMismatch("\(values.count) values for .npy shape \(shape)")
        guard shape.allSatisfy({ $0 >= 0 }), try Checked.product(shape, orThrow: mismatch) == values.count else { throw mismatch }
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = Array("{'descr': '<f4', 'fortran_order': False, 'shape': \(dims), }".utf8)
        // Magic (6) + version (2) + length (2) + header + '\n' is padded to a multiple of 64.
        while (10 + header.count + 1) % 64 != 0 { header.append(UInt8(ascii: " ")) }
        header.append(UInt8(ascii: "\n"))
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)] + header
        out.reserveCapacity(out.count + values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
        return out
    }

    /// Writes the array atomically.
    public static func write(_ values: [Float], shape: [Int], to url: URL) throws {
        try AtomicFile.write(Data(try encode(values, shape: shape)), to: url)
    }
}
