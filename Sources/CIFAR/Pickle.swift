import ConvEngine

/// A value decoded from a Python pickle. Containers are reference types so that memo references to
/// them see the items added later, as in Python.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    /// A Python 2 `str` or a Python 3 `bytes`.
    case bytes([UInt8])
    /// A Python 3 `str` (or Python 2 `unicode`).
    case string(String)
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    /// A class or function named by GLOBAL / STACK_GLOBAL.
    case global(module: String, name: String)
    /// The result of calling a global (REDUCE / NEWOBJ), with the state a BUILD gave it.
    case object(PickleObject)

    /// The text of a `str`/`bytes`/`unicode` value (bytes as Latin-1).
    var text: String? {
        switch self {
        case .string(let s): return s
        case .bytes(let b): return String(b.map { Character(Unicode.Scalar($0)) })
        default: return nil
        }
    }

    /// A short description for error messages.
    var kind: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .bytes: return "bytes"
        case .string: return "str"
        case .tuple(let t): return "tuple of \(t.count)"
        case .list(let l): return "list of \(l.items.count)"
        case .dict: return "dict"
        case .global(let m, let n): return "\(m).\(n)"
        case .object(let o): return "object from \(o.callable.kind)"
        }
    }
}

final class PickleList { var items: [PickleValue] = [] }

final class PickleDict {
    var items: [(key: PickleValue, value: PickleValue)] = []

    /// The value under a key that is `name` as `str` or as `bytes` (Python 2 and 3 pickles differ).
    subscript(_ name: String) -> PickleValue? { items.first { $0.key.text == name }?.value }

    /// The keys as text.
    var keys: [String] { items.compactMap { $0.key.text } }
}

final class PickleObject {
    let callable: PickleValue
    let arguments: [PickleValue]
    var state: PickleValue?
    init(callable: PickleValue, arguments: [PickleValue]) {
        self.callable = callable
        self.arguments = arguments
    }
}

/// Decodes the subset of the pickle format that CIFAR's files use, in the forms Python 2 (protocol 2,
/// the official files) and Python 3 (protocols 2–5, numpy 1 and 2) write. Nothing is executed:
/// globals stay names, calls stay `PickleObject`s, except `_codecs.encode(text, "latin1")`, which
/// Python 3 uses to carry bytes in protocol 2 and which is decoded to bytes here.
struct PickleReader {
    private let data: [UInt8]
    private let source: String
    private var position = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]

    /// Decodes `data`; `source` names the file in errors.
    static func decode(_ data: [UInt8], source: String) throws -> PickleValue {
        var reader = PickleReader(data: data, source: source)
        return try reader.run()
    }

    private init(data: [UInt8], source: String) {
        self.data = data
        self.source = source
    }

    private func corrupt(_ why: String, at offset: Int? = nil) -> EngineError {
        .corruptData("\(source): malformed pickle at byte \(offset ?? position): \(why)")
    }

    private mutating func bytes(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, position + n <= data.count else {
            throw corrupt("needs \(n) more bytes but the file ends at \(data.count) (truncated?)")
        }
        defer { position += n }
        return data[position..<(position + n)]
    }

    private mutating func uint(_ n: Int) throws -> Int {
        var v = 0
        for (i, b) in try bytes(n).enumerated() { v |= Int(b) << (8 * i) }
        return v
    }

    private mutating func line() throws -> String {
        guard let end = data[position...].firstIndex(of: UInt8(ascii: "\n")) else { throw corrupt("unterminated text line") }
        defer { position = end + 1 }
        return String(decoding: data[position..<end], as: UTF8.self)
    }

    private mutating func pop() throws -> PickleValue {
        guard let v = stack.popLast() else { throw corrupt("stack underflow") }
        if let mark = marks.last, stack.count < mark { throw corrupt("stack underflow past a mark") }
        return v
    }

    private mutating func popToMark() throws -> [PickleValue] {
        guard let mark = marks.popLast(), mark <= stack.count else { throw corrupt("no MARK to pop to") }
        defer { stack.removeSubrange(mark...) }
        return Array(stack[mark...])
    }

    private mutating func top() throws -> PickleValue {
        guard let v = stack.last else { throw corrupt("stack underflow") }
        return v
    }

    private mutating func run() throws -> PickleValue {
        while true {
            let offset = position
            let opcode = try bytes(1).first!
            switch opcode {
            case 0x80: _ = try uint(1)                                    // PROTO
            case 0x95: _ = try uint(8)                                    // FRAME
            case UInt8(ascii: "."):                                       // STOP
                guard stack.count == 1 else { throw corrupt("STOP with \(stack.count) values on the stack", at: offset) }
                return stack[0]
            case UInt8(ascii: "("): marks.append(stack.count)             // MARK
            case UInt8(ascii: "}"): stack.append(.dict(PickleDict()))     // EMPTY_DICT
            case UInt8(ascii: "]"): stack.append(.list(PickleList()))     // EMPTY_LIST
            case UInt8(ascii: ")"): stack.append(.tuple([]))              // EMPTY_TUPLE
            case UInt8(ascii: "N"): stack.append(.none)                   // NONE
            case 0x88: stack.append(.bool(true))                          // NEWTRUE
            case 0x89: stack.append(.bool(false))                         // NEWFALSE
            case UInt8(ascii: "K"): stack.append(.int(try uint(1)))       // BININT1
            case UInt8(ascii: "M"): stack.append(.int(try uint(2)))       // BININT2
            case UInt8(ascii: "J"): stack.append(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x8a:                                                    // LONG1
                let n = try uint(1)
                guard n <= 8 else { throw corrupt("LONG1 of \(n) bytes is too large", at: offset) }
                var v = 0
                for (i, b) in try bytes(n).enumerated() { v |= Int(b) << (8 * i) }
                if n > 0 && n < 8 && (v >> (8 * n - 1)) & 1 == 1 { v -= 1 << (8 * n) }
                stack.append(.int(v))
            case UInt8(ascii: "G"):                                       // BINFLOAT (big-endian)
                var bits: UInt64 = 0
                for b in try bytes(8) { bits = bits << 8 | UInt64(b) }
                stack.append(.float(Double(bitPattern: bits)))
            case UInt8(ascii: "U"), UInt8(ascii: "C"): stack.append(.bytes(Array(try bytes(try uint(1)))))  // SHORT_BINSTRING/BYTES
            case UInt8(ascii: "T"), UInt8(ascii: "B"): stack.append(.bytes(Array(try bytes(try uint(4)))))  // BINSTRING/BINBYTES
            case 0x8e, 0x96: stack.append(.bytes(Array(try bytes(try uint(8)))))                          // BINBYTES8/BYTEARRAY8
            case 0x8c: stack.append(.string(String(decoding: try bytes(try uint(1)), as: UTF8.self)))    // SHORT_BINUNICODE
            case UInt8(ascii: "X"): stack.append(.string(String(decoding: try bytes(try uint(4)), as: UTF8.self)))  // BINUNICODE
            case 0x8d: stack.append(.string(String(decoding: try bytes(try uint(8)), as: UTF8.self)))    // BINUNICODE8
            case UInt8(ascii: "q"): memo[try uint(1)] = try top()          // BINPUT
            case UInt8(ascii: "r"): memo[try uint(4)] = try top()          // LONG_BINPUT
            case 0x94: memo[memo.count] = try top()                        // MEMOIZE
            case UInt8(ascii: "h"), UInt8(ascii: "j"):                     // BINGET, LONG_BINGET
                let index = try uint(opcode == UInt8(ascii: "h") ? 1 : 4)
                guard let v = memo[index] else { throw corrupt("memo entry \(index) was never stored", at: offset) }
                stack.append(v)
            case UInt8(ascii: "c"):                                       // GLOBAL
                let module = try line(), name = try line()
                stack.append(.global(module: module, name: name))
            case 0x93:                                                    // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard let m = module.text, let n = name.text else { throw corrupt("STACK_GLOBAL needs two strings", at: offset) }
                stack.append(.global(module: m, name: n))
            case 0x85: stack.append(.tuple([try pop()]))                  // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); stack.append(.tuple([a, b]))           // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); stack.append(.tuple([a, b, c]))  // TUPLE3
            case UInt8(ascii: "t"): stack.append(.tuple(try popToMark()))  // TUPLE
            case UInt8(ascii: "l"):                                       // LIST
                let list = PickleList()
                list.items = try popToMark()
                stack.append(.list(list))
            case UInt8(ascii: "a"):                                       // APPEND
                let v = try pop()
                guard case .list(let list) = try top() else { throw corrupt("APPEND to a non-list", at: offset) }
                list.items.append(v)
            case UInt8(ascii: "e"):                                       // APPENDS
                let items = try popToMark()
                guard case .list(let list) = try top() else { throw corrupt("APPENDS to a non-list", at: offset) }
                list.items += items
            case UInt8(ascii: "s"):                                       // SETITEM
                let v = try pop(), k = try pop()
                guard case .dict(let dict) = try top() else { throw corrupt("SETITEM on a non-dict", at: offset) }
                dict.items.append((k, v))
            case UInt8(ascii: "u"):                                       // SETITEMS
                let items = try popToMark()
                guard items.count % 2 == 0 else { throw corrupt("SETITEMS with an odd number of values", at: offset) }
                guard case .dict(let dict) = try top() else { throw corrupt("SETITEMS on a non-dict", at: offset) }
                for i in stride(from: 0, to: items.count, by: 2) { dict.items.append((items[i], items[i + 1])) }
            case UInt8(ascii: "R"), 0x81:                                 // REDUCE, NEWOBJ
                let args = try pop(), callable = try pop()
                guard case .tuple(let arguments) = args else { throw corrupt("call arguments are not a tuple", at: offset) }
                stack.append(try call(callable, arguments, at: offset))
            case UInt8(ascii: "b"):                                       // BUILD
                let state = try pop()
                guard case .object(let object) = try top() else { throw corrupt("BUILD on a \(try top().kind)", at: offset) }
                object.state = state
            default:
                throw corrupt("unsupported opcode 0x" + String(opcode, radix: 16), at: offset)
            }
        }
    }

    private func call(_ callable: PickleValue, _ arguments: [PickleValue], at offset: Int) throws -> PickleValue {
        if case .global("_codecs", "encode") = callable {
            // Python 3's protocol-2 form of bytes: _codecs.encode(latin-1 text, "latin1").
            guard let text = arguments.first, case .string(let s) = text else { throw corrupt("_codecs.encode without text", at: offset) }
            var out = [UInt8]()
            out.reserveCapacity(s.unicodeScalars.count)
            for scalar in s.unicodeScalars {
                guard scalar.value < 256 else { throw corrupt("_codecs.encode text is not Latin-1", at: offset) }
                out.append(UInt8(scalar.value))
            }
            return .bytes(out)
        }
        return .object(PickleObject(callable: callable, arguments: arguments))
    }
}

extension PickleValue {
    /// Raw bytes of a bytes value (a Python 2 str counts).
    var bytesValue: [UInt8]? {
        if case .bytes(let b) = self { return b }
        return nil
    }
}
