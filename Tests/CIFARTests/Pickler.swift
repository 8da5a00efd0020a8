import Foundation

/// Emits pickle opcodes the way each Python version does for CIFAR's dicts (see FixtureWriter.PickleForm).
struct Pickler {
    let form: FixtureWriter.PickleForm
    private(set) var out: [UInt8]
    private var memo = 1

    init(form: FixtureWriter.PickleForm) {
        self.form = form
        switch form {
        case .python2, .python3Protocol2: out = [0x80, 2]
        case .python3Protocol4: out = [0x80, 4, 0x95] + [UInt8](repeating: 0, count: 8)  // FRAME length patched in finish()
        case .python3Protocol5: out = [0x80, 5]
        }
    }

    private var modern: Bool { form == .python3Protocol4 || form == .python3Protocol5 }

    private mutating func le(_ v: Int, _ n: Int) { for i in 0..<n { out.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }

    private mutating func put() {
        if modern {
            out.append(0x94)
            return
        }  // MEMOIZE
        if memo < 256 {
            out += [UInt8(ascii: "q"), UInt8(memo)]
        } else {
            out.append(UInt8(ascii: "r"))
            le(memo, 4)
        }
        memo += 1
    }

    mutating func int(_ v: Int) {
        if 0 <= v && v < 256 {
            out += [UInt8(ascii: "K"), UInt8(v)]
        } else if 0 <= v && v < 65536 {
            out.append(UInt8(ascii: "M"))
            le(v, 2)
        } else if Int(Int32(truncatingIfNeeded: v)) == v {
            out.append(UInt8(ascii: "J"))
            le(v, 4)
        } else {
            out += [0x8a, 8]
            le(v, 8)
        }  // LONG1
    }

    /// A text value: a Python 2 str (bytes) or a Python 3 str (unicode).
    mutating func text(_ s: String) {
        let b = Array(s.utf8)
        if form == .python2 {
            if b.count < 256 {
                out += [UInt8(ascii: "U"), UInt8(b.count)] + b
            } else {
                out.append(UInt8(ascii: "T"))
                le(b.count, 4)
                out += b
            }
            if b.count > 1 { put() }
        } else if modern && b.count < 256 {
            out += [0x8c, UInt8(b.count)] + b  // SHORT_BINUNICODE
            put()
        } else {
            out.append(UInt8(ascii: "X"))
            le(b.count, 4)
            out += b  // BINUNICODE
            put()
        }
    }

    /// Raw bytes as each form carries them.
    mutating func bytes(_ b: [UInt8]) {
        switch form {
        case .python2:
            out.append(UInt8(ascii: "T"))
            le(b.count, 4)
            out += b
        case .python3Protocol2:
            // _codecs.encode(latin-1 text, "latin1")
            global("_codecs", "encode")
            let latin = String(b.map { Character(Unicode.Scalar($0)) })
            let utf8 = Array(latin.utf8)
            out.append(UInt8(ascii: "X"))
            le(utf8.count, 4)
            out += utf8
            put()
            text("latin1")
            out += [0x86, UInt8(ascii: "R")]
            put()
        case .python3Protocol4:
            out.append(UInt8(ascii: "B"))
            le(b.count, 4)
            out += b
            put()
        case .python3Protocol5:
            out.append(0x96)
            le(b.count, 8)
            out += b  // BYTEARRAY8
        }
    }

    mutating func global(_ module: String, _ name: String) {
        if modern {
            text(module)
            text(name)
            out.append(0x93)  // STACK_GLOBAL
            put()
        } else {
            out += [UInt8(ascii: "c")] + Array("\(module)\n\(name)\n".utf8)
            put()
        }
    }

    mutating func list(_ count: Int, _ each: (inout Pickler, Int) -> Void) {
        out.append(UInt8(ascii: "]"))
        put()
        var i = 0
        while i < count {
            let chunk = min(1000, count - i)
            if chunk == 1 {
                each(&self, i)
                out.append(UInt8(ascii: "a"))
            } else {
                out.append(UInt8(ascii: "("))
                for j in i..<(i + chunk) { each(&self, j) }
                out.append(UInt8(ascii: "e"))
            }
            i += chunk
        }
    }

    /// Labels: a list of ints, except protocol 5, which stores an int64 numpy array.
    mutating func labels(_ labels: [Int32]) {
        if form == .python3Protocol5 {
            var raw = [UInt8]()
            for l in labels { for i in 0..<8 { raw.append(UInt8(truncatingIfNeeded: Int64(l) >> (8 * i))) } }
            array(shape: [labels.count], dtype: "i8", raw)
        } else {
            list(labels.count) { p, i in p.int(Int(labels[i])) }
        }
    }

    mutating func uint8Matrix(rows: Int, cols: Int, _ data: [UInt8]) { array(shape: [rows, cols], dtype: "u1", data) }

    private mutating func dtype(_ name: String) {
        global("numpy", "dtype")
        text(name)
        int(0)
        int(1)
        out += [0x87, UInt8(ascii: "R")]
        put()
        out.append(UInt8(ascii: "("))
        int(3)
        text(name == "u1" ? "|" : "<")
        out += Array("NNN".utf8)
        out.append(UInt8(ascii: "J"))
        le(-1, 4)
        out.append(UInt8(ascii: "J"))
        le(-1, 4)
        int(0)
        out += [UInt8(ascii: "t"), UInt8(ascii: "b")]
    }

    private mutating func array(shape: [Int], dtype name: String, _ data: [UInt8]) {
        if form == .python3Protocol5 {
            // numpy._core.numeric._frombuffer(buffer, dtype, shape, order)
            global("numpy._core.numeric", "_frombuffer")
            out.append(UInt8(ascii: "("))
            bytes(data)
            dtype(name)
            out.append(UInt8(ascii: "("))
            for s in shape { int(s) }
            out.append(UInt8(ascii: "t"))
            text("C")
            out += [UInt8(ascii: "t"), UInt8(ascii: "R")]
            put()
            return
        }
        global(form == .python3Protocol4 ? "numpy._core.multiarray" : "numpy.core.multiarray", "_reconstruct")
        global("numpy", "ndarray")
        int(0)
        out.append(0x85)
        if form == .python2 { text("b") } else { bytes([UInt8(ascii: "b")]) }
        out += [0x87, UInt8(ascii: "R")]
        put()
        out.append(UInt8(ascii: "("))
        int(1)
        out.append(UInt8(ascii: "("))
        for s in shape { int(s) }
        out.append(UInt8(ascii: "t"))
        dtype(name)
        out.append(0x89)
        bytes(data)
        out += [UInt8(ascii: "t"), UInt8(ascii: "b")]
    }

    mutating func dict(_ items: [(String, (inout Pickler) -> Void)]) {
        out.append(UInt8(ascii: "}"))
        put()
        out.append(UInt8(ascii: "("))
        for (key, write) in items {
            text(key)
            write(&self)
        }
        out.append(UInt8(ascii: "u"))
    }

    mutating func finish() -> [UInt8] {
        out.append(UInt8(ascii: "."))
        if form == .python3Protocol4 {
            let length = out.count - 11
            for i in 0..<8 { out[3 + i] = UInt8(truncatingIfNeeded: length >> (8 * i)) }
        }
        return out
    }
}
