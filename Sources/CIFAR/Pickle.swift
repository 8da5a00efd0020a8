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

/// What the reader tracks of a mutable container: how deeply it nests, and whether it already sits
/// inside another value.
class PickleContainer {
    /// 1 + the depth of its deepest item (1 when empty).
    var depth = 1
    /// Whether another value holds it (its depth is then part of that value's).
    var isNested = false
}

final class PickleList: PickleContainer { var items: [PickleValue] = [] }

final class PickleDict: PickleContainer {
    var items: [(key: PickleValue, value: PickleValue)] = []

    /// The value under a key that is `name` as `str` or as `bytes` (Python 2 and 3 pickles differ).
    subscript(_ name: String) -> PickleValue? { items.first { $0.key.text == name }?.value }

    /// The keys as text.
    var keys: [String] { items.compactMap { $0.key.text } }
}

final class PickleObject: PickleContainer {
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
///
/// Values nest at most `maximumDepth` deep. Swift frees a tree of values recursively, so a file of
/// 200,000 nested one-tuples (200 KB) would otherwise overflow the stack when its values are freed.
/// The reader tracks each value's depth as it builds it (a container's depth grows as items are
/// added; one that would grow after it was nested in another value is refused, which no pickler
/// writes) and refuses the file as soon as a value would nest deeper.
struct PickleReader {
    /// The deepest nesting accepted; CIFAR's files nest 5 deep.
    static let maximumDepth = 100

    /// A value on the stack or in the memo, with its depth when it is not a mutable container (whose
    /// depth the container itself tracks).
    private struct Entry {
        var value: PickleValue
        var depth: Int
    }

    private let data: [UInt8]
    private let source: String
    private var position = 0
    private var stack: [Entry] = []
    private var marks: [Int] = []
    private var memo: [Int: Entry] = [:]

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
        guard n >= 0, n <= data.count - position else {
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

    private mutating func pop() throws -> Entry {
        guard let v = stack.popLast() else { throw corrupt("stack underflow") }
        if let mark = marks.last, stack.count < mark { throw corrupt("stack underflow past a mark") }
        return v
    }

    private mutating func popToMark() throws -> [Entry] {
        guard let mark = marks.popLast(), mark <= stack.count else { throw corrupt("no MARK to pop to") }
        defer { stack.removeSubrange(mark...) }
        return Array(stack[mark...])
    }

    private func topEntry() throws -> Entry {
        guard let v = stack.last else { throw corrupt("stack underflow") }
        return v
    }

    private mutating func top() throws -> PickleValue {
        guard let v = stack.last else { throw corrupt("stack underflow") }
        return v.value
    }

    private mutating func push(_ value: PickleValue) { stack.append(Entry(value: value, depth: 1)) }

    // MARK: Depth

    private static func container(_ value: PickleValue) -> PickleContainer? {
        switch value {
        case .list(let l): return l
        case .dict(let d): return d
        case .object(let o): return o
        default: return nil
        }
    }

    private static func depth(_ entry: Entry) -> Int { container(entry.value)?.depth ?? entry.depth }

    /// 1 + the deepest of `items`, checked against `maximumDepth`; marks container items as nested.
    private func depth(holding items: [Entry], at offset: Int) throws -> Int {
        var d = 1
        for item in items {
            d = max(d, Self.depth(item) + 1)
            Self.container(item.value)?.isNested = true
        }
        guard d <= Self.maximumDepth else {
            throw corrupt("values nest deeper than \(Self.maximumDepth) levels", at: offset)
        }
        return d
    }

    /// Pushes an immutable value (a tuple, a call's result) made of `items`.
    private mutating func push(_ value: PickleValue, holding items: [Entry], at offset: Int) throws {
        let d = try depth(holding: items, at: offset)
        if let c = Self.container(value) { c.depth = d }
        stack.append(Entry(value: value, depth: d))
    }

    /// Records that `container` now also holds `items`.
    private func grow(_ container: PickleContainer, holding items: [Entry], at offset: Int) throws {
        let d = try depth(holding: items, at: offset)
        guard d > container.depth else { return }
        guard !container.isNested else { throw corrupt("a container grows deeper after another value took it in", at: offset) }
        container.depth = d
    }

    private mutating func run() throws -> PickleValue {
        while true {
            let offset = position
            let opcode = try bytes(1).first!
            switch opcode {
            case 0x80: _ = try uint(1)  // PROTO
            case 0x95: _ = try uint(8)  // FRAME
            case UInt8(ascii: "."):  // STOP
                guard stack.count == 1 else { throw corrupt("STOP with \(stack.count) values on the stack", at: offset) }
                return stack[0].value
            case UInt8(ascii: "("): marks.append(stack.count)  // MARK
            case UInt8(ascii: "}"): push(.dict(PickleDict()))  // EMPTY_DICT
            case UInt8(ascii: "]"): push(.list(PickleList()))  // EMPTY_LIST
            case UInt8(ascii: ")"): push(.tuple([]))  // EMPTY_TUPLE
            case UInt8(ascii: "N"): push(.none)  // NONE
            case 0x88: push(.bool(true))  // NEWTRUE
            case 0x89: push(.bool(false))  // NEWFALSE
            case UInt8(ascii: "K"): push(.int(try uint(1)))  // BININT1
            case UInt8(ascii: "M"): push(.int(try uint(2)))  // BININT2
            case UInt8(ascii: "J"): push(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x8a:  // LONG1
                let n = try uint(1)
                guard n <= 8 else { throw corrupt("LONG1 of \(n) bytes is too large", at: offset) }
                var v = 0
                for (i, b) in try bytes(n).enumerated() { v |= Int(b) << (8 * i) }
                if n > 0 && n < 8 && (v >> (8 * n - 1)) & 1 == 1 { v -= 1 << (8 * n) }
                push(.int(v))
            case UInt8(ascii: "G"):  // BINFLOAT (big-endian)
                var bits: UInt64 = 0
                for b in try bytes(8) { bits = bits << 8 | UInt64(b) }
                push(.float(Double(bitPattern: bits)))
            case UInt8(ascii: "U"), UInt8(ascii: "C"): push(.bytes(Array(try bytes(try uint(1)))))  // SHORT_BINSTRING/BYTES
            case UInt8(ascii: "T"), UInt8(ascii: "B"): push(.bytes(Array(try bytes(try uint(4)))))  // BINSTRING/BINBYTES
            case 0x8e, 0x96: push(.bytes(Array(try bytes(try uint(8)))))  // BINBYTES8/BYTEARRAY8
            case 0x8c: push(.string(String(decoding: try bytes(try uint(1)), as: UTF8.self)))  // SHORT_BINUNICODE
            case UInt8(ascii: "X"): push(.string(String(decoding: try bytes(try uint(4)), as: UTF8.self)))  // BINUNICODE
            case 0x8d: push(.string(String(decoding: try bytes(try uint(8)), as: UTF8.self)))  // BINUNICODE8
            case UInt8(ascii: "q"): memo[try uint(1)] = try topEntry()  // BINPUT
            case UInt8(ascii: "r"): memo[try uint(4)] = try topEntry()  // LONG_BINPUT
            case 0x94: memo[memo.count] = try topEntry()  // MEMOIZE
            case UInt8(ascii: "h"), UInt8(ascii: "j"):  // BINGET, LONG_BINGET
                let index = try uint(opcode == UInt8(ascii: "h") ? 1 : 4)
                guard let v = memo[index] else { throw corrupt("memo entry \(index) was never stored", at: offset) }
                stack.append(v)
            case UInt8(ascii: "c"):  // GLOBAL
                let module = try line(), name = try line()
                push(.global(module: module, name: name))
            case 0x93:  // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard let m = module.value.text, let n = name.value.text else {
                    throw corrupt("STACK_GLOBAL needs two strings", at: offset)
                }
                push(.global(module: m, name: n))
            case 0x85:
                let a = try pop()
                try push(.tuple([a.value]), holding: [a], at: offset)  // TUPLE1
            case 0x86:  // TUPLE2
                let b = try pop(), a = try pop()
                try push(.tuple([a.value, b.value]), holding: [a, b], at: offset)
            case 0x87:  // TUPLE3
                let c = try pop(), b = try pop(), a = try pop()
                try push(.tuple([a.value, b.value, c.value]), holding: [a, b, c], at: offset)
            case UInt8(ascii: "t"):  // TUPLE
                let items = try popToMark()
                try push(.tuple(items.map(\.value)), holding: items, at: offset)
            case UInt8(ascii: "l"):  // LIST
                let list = PickleList(), items = try popToMark()
                list.items = items.map(\.value)
                try push(.list(list), holding: items, at: offset)
            case UInt8(ascii: "a"):  // APPEND
                let v = try pop()
                guard case .list(let list) = try top() else { throw corrupt("APPEND to a non-list", at: offset) }
                try grow(list, holding: [v], at: offset)
                list.items.append(v.value)
            case UInt8(ascii: "e"):  // APPENDS
                let items = try popToMark()
                guard case .list(let list) = try top() else { throw corrupt("APPENDS to a non-list", at: offset) }
                try grow(list, holding: items, at: offset)
                list.items += items.map(\.value)
            case UInt8(ascii: "s"):  // SETITEM
                let v = try pop(), k = try pop()
                guard case .dict(let dict) = try top() else { throw corrupt("SETITEM on a non-dict", at: offset) }
                try grow(dict, holding: [k, v], at: offset)
                dict.items.append((k.value, v.value))
            case UInt8(ascii: "u"):  // SETITEMS
                let items = try popToMark()
                guard items.count % 2 == 0 else { throw corrupt("SETITEMS with an odd number of values", at: offset) }
                guard case .dict(let dict) = try top() else { throw corrupt("SETITEMS on a non-dict", at: offset) }
                try grow(dict, holding: items, at: offset)
                for i in stride(from: 0, to: items.count, by: 2) { dict.items.append((items[i].value, items[i + 1].value)) }
            case UInt8(ascii: "R"), 0x81:  // REDUCE, NEWOBJ
                let args = try pop(), callable = try pop()
                guard case .tuple(let arguments) = args.value else { throw corrupt("call arguments are not a tuple", at: offset) }
                try push(try call(callable.value, arguments, at: offset), holding: [callable, args], at: offset)
            case UInt8(ascii: "b"):  // BUILD
                let state = try pop()
                guard case .object(let object) = try top() else { throw corrupt("BUILD on a \(try top().kind)", at: offset) }
                try grow(object, holding: [state], at: offset)
                object.state = state.value
            default:
                throw corrupt("unsupported opcode 0x" + String(opcode, radix: 16), at: offset)
            }
        }
    }

    private func call(_ callable: PickleValue, _ arguments: [PickleValue], at offset: Int) throws -> PickleValue {
        if case .global("_codecs", "encode") = callable {
            // Python 3's protocol-2 form of bytes: _codecs.encode(latin-1 text, "latin1").
            guard let text = arguments.first, case .string(let s) = text else {
                throw corrupt("_codecs.encode without text", at: offset)
            }
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
