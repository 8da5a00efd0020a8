import ConvEngine

/// A numpy array decoded from its pickled form.
struct PickledArray {
    /// The extents.
    var shape: [Int]
    /// numpy's type string without byte order ("u1", "i8", …), and whether it is little-endian.
    var type: String
    /// The raw bytes, C order.
    var bytes: [UInt8]

    /// Reads `numpy.core.multiarray._reconstruct(ndarray, …)` + BUILD (numpy 1 and 2 module names)
    /// or `numpy.core.numeric._frombuffer(buffer, dtype, shape, order)` (protocol 5).
    init(_ value: PickleValue, what: String, source: String) throws {
        func corrupt(_ why: String) -> EngineError { .corruptData("\(source): \(what) \(why)") }
        guard case .object(let object) = value, case .global(let module, let name) = object.callable,
            module.hasPrefix("numpy")
        else {
            throw corrupt("is a \(value.kind), not a numpy array")
        }
        switch name {
        case "_reconstruct":
            guard case .tuple(let state)? = object.state, state.count == 5,
                case .tuple(let shape) = state[1], case .bool(let fortran) = state[3]
            else {
                throw corrupt("has a malformed ndarray state")
            }
            guard !fortran else { throw corrupt("is in Fortran order") }
            guard let raw = state[4].bytesValue else { throw corrupt("has no raw data (\(state[4].kind))") }
            self.shape = try shape.map {
                guard case .int(let n) = $0, n >= 0 else { throw corrupt("has a bad shape") }
                return n
            }
            type = try Self.dtype(state[2], corrupt)
            bytes = raw
        case "_frombuffer":
            guard object.arguments.count == 4, let raw = object.arguments[0].bytesValue,
                case .tuple(let shape) = object.arguments[2]
            else { throw corrupt("has malformed _frombuffer arguments") }
            self.shape = try shape.map {
                guard case .int(let n) = $0, n >= 0 else { throw corrupt("has a bad shape") }
                return n
            }
            type = try Self.dtype(object.arguments[1], corrupt)
            bytes = raw
        default:
            throw corrupt("is built by numpy \(name), which is not an array constructor")
        }
        let needed = try Checked.product(
            self.shape + [elementSize], orThrow: corrupt("has shape \(self.shape), too large to hold"))
        guard bytes.count == needed else {
            throw corrupt("holds \(bytes.count) bytes, but shape \(self.shape) of \(type) needs \(needed)")
        }
    }

    /// `numpy.dtype(name, 0, 1)` + BUILD with (3, byte order, …): the type name, checked little-endian.
    private static func dtype(_ value: PickleValue, _ corrupt: (String) -> EngineError) throws -> String {
        guard case .object(let d) = value, case .global(_, "dtype") = d.callable, let name = d.arguments.first?.text else {
            throw corrupt("has no numpy dtype")
        }
        if case .tuple(let state)? = d.state, state.count > 1, let order = state[1].text, order == ">" {
            throw corrupt("is big-endian (\(name)), which is not supported")
        }
        return name
    }

    var elementSize: Int {
        switch type {
        case "u1", "i1", "b1", "uint8", "int8": return 1
        case "u2", "i2": return 2
        case "u4", "i4", "f4", "int32", "uint32", "float32": return 4
        default: return 8
        }
    }

    /// The elements as integers (unsigned for u*, signed for i*).
    func integers() throws -> [Int] {
        switch type {
        case "u1", "uint8": return bytes.map(Int.init)
        case "i1", "int8": return bytes.map { Int(Int8(bitPattern: $0)) }
        case "i4", "int32":
            return stride(from: 0, to: bytes.count, by: 4).map { o in
                Int(
                    Int32(
                        bitPattern: UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(
                            bytes[o + 3]) << 24))
            }
        case "i8", "int64":
            return stride(from: 0, to: bytes.count, by: 8).map { o in
                var v: UInt64 = 0
                for i in 0..<8 { v |= UInt64(bytes[o + i]) << (8 * UInt64(i)) }
                return Int(Int64(bitPattern: v))
            }
        default: throw EngineError.corruptData("numpy \(type) is not an integer type")
        }
    }
}
