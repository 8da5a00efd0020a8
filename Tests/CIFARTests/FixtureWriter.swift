import CIFAR
import CZlib
import ConvEngine
import Foundation

/// Writes small CIFAR data sets in every official on-disk form, for tests that must not need the
/// real data: binary records, pickles as Python 2 writes them (the official files) and as Python 3
/// writes them (protocol 2 with `_codecs.encode`, protocol 4 with numpy 2's module names, protocol 5
/// with `_frombuffer`), and `.tar.gz` archives of each folder.
struct FixtureWriter {
    let root: URL

    /// A fresh temporary folder.
    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("cifar-fixture-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(at: root) }

    /// A deterministic random set of `count` images with labels below `classes` (and coarse labels
    /// below 20 when `coarse`).
    static func images(count: Int, classes: Int, seed: UInt64, coarse: Bool = false) -> LabeledImages {
        var g = RandomGenerator(seed: seed)
        let pixels = (0..<(count * 3072)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        let labels = (0..<count).map { _ in Int32(g.next() % UInt64(classes)) }
        let coarseLabels = coarse ? (0..<count).map { _ in Int32(g.next() % 20) } : []
        return try! LabeledImages(pixels: pixels, labels: labels, coarseLabels: coarseLabels)  // consistent by construction
    }

    static let names10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    /// Splits `train` into five batches, as CIFAR-10 does.
    static func batches(_ train: LabeledImages) -> [LabeledImages] {
        let per = train.count / 5
        return (0..<5).map { b in
            let range = (b * per)..<((b + 1) * per)
            return try! LabeledImages(
                pixels: Array(train.pixels[(range.lowerBound * 3072)..<(range.upperBound * 3072)]),
                labels: Array(train.labels[range]))
        }
    }

    // MARK: Binary

    func writeBinary10(train: LabeledImages, test: LabeledImages, folder: String = "cifar-10-batches-bin") throws -> URL {
        let dir = try makeFolder(folder)
        for (i, batch) in Self.batches(train).enumerated() {
            try Self.binary(batch).write(to: dir.appendingPathComponent("data_batch_\(i + 1).bin"))
        }
        try Self.binary(test).write(to: dir.appendingPathComponent("test_batch.bin"))
        try Data((Self.names10.joined(separator: "\n") + "\n\n").utf8).write(to: dir.appendingPathComponent("batches.meta.txt"))
        return dir
    }

    func writeBinary100(train: LabeledImages, test: LabeledImages) throws -> URL {
        let dir = try makeFolder("cifar-100-binary")
        try Self.binary(train, coarse: true).write(to: dir.appendingPathComponent("train.bin"))
        try Self.binary(test, coarse: true).write(to: dir.appendingPathComponent("test.bin"))
        try Data((0..<100).map { "fine\($0)" }.joined(separator: "\n").utf8).write(
            to: dir.appendingPathComponent("fine_label_names.txt"))
        try Data((0..<20).map { "coarse\($0)" }.joined(separator: "\n").utf8).write(
            to: dir.appendingPathComponent("coarse_label_names.txt"))
        return dir
    }

    static func binary(_ images: LabeledImages, coarse: Bool = false) -> Data {
        var out = Data()
        for i in 0..<images.count {
            if coarse { out.append(UInt8(images.coarseLabels[i])) }
            out.append(UInt8(images.labels[i]))
            out.append(contentsOf: images.pixels[(i * 3072)..<((i + 1) * 3072)])
        }
        return out
    }

    // MARK: Python

    enum PickleForm: CaseIterable, Sendable {
        /// Python 2 cPickle protocol 2: BINSTRING data, numpy.core names (the official files).
        case python2
        /// Python 3, protocol 2: str keys, bytes via _codecs.encode.
        case python3Protocol2
        /// Python 3, protocol 4, numpy 2: FRAME, MEMOIZE, STACK_GLOBAL, BINBYTES, numpy._core.
        case python3Protocol4
        /// Python 3, protocol 5: numpy's _frombuffer with BYTEARRAY8; labels as an int64 array.
        case python3Protocol5
    }

    func writePython10(train: LabeledImages, test: LabeledImages, form: PickleForm, folder: String = "cifar-10-batches-py") throws
        -> URL
    {
        let dir = try makeFolder(folder)
        for (i, batch) in Self.batches(train).enumerated() {
            try Data(Self.batchPickle(batch, label: "training batch \(i + 1) of 5", form: form)).write(
                to: dir.appendingPathComponent("data_batch_\(i + 1)"))
        }
        try Data(Self.batchPickle(test, label: "testing batch 1 of 1", form: form)).write(
            to: dir.appendingPathComponent("test_batch"))
        var p = Pickler(form: form)
        p.dict([
            ("num_cases_per_batch", { $0.int(10000) }),
            ("label_names", { p in p.list(Self.names10.count) { p, i in p.text(Self.names10[i]) } }),
            ("num_vis", { $0.int(3072) }),
        ])
        try Data(p.finish()).write(to: dir.appendingPathComponent("batches.meta"))
        return dir
    }

    func writePython100(train: LabeledImages, test: LabeledImages, form: PickleForm) throws -> URL {
        let dir = try makeFolder("cifar-100-python")
        for (name, images) in [("train", train), ("test", test)] {
            var p = Pickler(form: form)
            p.dict([
                ("filenames", { p in p.list(images.count) { p, i in p.text("img_\(i).png") } }),
                ("batch_label", { $0.text(name) }),
                ("fine_labels", { p in p.labels(images.labels) }),
                ("coarse_labels", { p in p.labels(images.coarseLabels) }),
                ("data", { p in p.uint8Matrix(rows: images.count, cols: 3072, images.pixels) }),
            ])
            try Data(p.finish()).write(to: dir.appendingPathComponent(name))
        }
        var p = Pickler(form: form)
        p.dict([
            ("fine_label_names", { p in p.list(100) { p, i in p.text("fine\(i)") } }),
            ("coarse_label_names", { p in p.list(20) { p, i in p.text("coarse\(i)") } }),
        ])
        try Data(p.finish()).write(to: dir.appendingPathComponent("meta"))
        return dir
    }

    /// A batch dict with its keys in a different order for each form (readers must not care).
    static func batchPickle(_ images: LabeledImages, label: String, form: PickleForm) -> [UInt8] {
        var p = Pickler(form: form)
        var items: [(String, (inout Pickler) -> Void)] = [
            ("batch_label", { $0.text(label) }),
            ("labels", { p in p.labels(images.labels) }),
            ("data", { p in p.uint8Matrix(rows: images.count, cols: 3072, images.pixels) }),
            ("filenames", { p in p.list(images.count) { p, i in p.text("image_\(i).png") } }),
        ]
        if form != .python2 { items.reverse() }
        p.dict(items)
        return p.finish()
    }

    // MARK: Archives

    /// A `.tar.gz` of `folder` (relative to root), as the official archives are laid out.
    func writeArchive(folder: String, name: String) throws -> URL {
        var tar = [UInt8]()
        let dir = root.appendingPathComponent(folder)
        tar += Self.tarHeader(name: folder + "/", size: 0, type: UInt8(ascii: "5"))
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() {
            let bytes = [UInt8](try Data(contentsOf: dir.appendingPathComponent(file)))
            tar += Self.tarHeader(name: "\(folder)/\(file)", size: bytes.count, type: UInt8(ascii: "0"))
            tar += bytes + [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512)
        }
        tar += [UInt8](repeating: 0, count: 1024)
        let url = root.appendingPathComponent(name)
        try Data(Self.gzip(tar)).write(to: url)
        return url
    }

    static func tarHeader(name: String, size: Int, type: UInt8) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ s: String, _ offset: Int) { for (i, b) in s.utf8.enumerated() { h[offset + i] = b } }
        put(name, 0)
        put("0000644\0", 100)
        put("0000000\0", 108)
        put("0000000\0", 116)
        put(String(format: "%011o\0", size), 124)
        put("00000000000\0", 136)
        h[156] = type
        put("ustar\0", 257)
        put("00", 263)
        fixTarChecksum(&h)
        return h
    }

    /// Writes a header's checksum field for its other bytes.
    static func fixTarChecksum(_ h: inout [UInt8]) {
        for i in 148..<156 { h[i] = 32 }
        let sum = h.reduce(0) { $0 + Int($1) }
        for (i, b) in String(format: "%06o\0 ", sum).utf8.enumerated() { h[148 + i] = b }
    }

    static func gzip(_ input: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        deflateInit2_(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 64)
        var input = input
        let produced = input.withUnsafeMutableBufferPointer { src in
            output.withUnsafeMutableBufferPointer { dst in
                stream.next_in = src.baseAddress
                stream.avail_in = uInt(src.count)
                stream.next_out = dst.baseAddress
                stream.avail_out = uInt(dst.count)
                deflate(&stream, Z_FINISH)
                return dst.count - Int(stream.avail_out)
            }
        }
        return Array(output[0..<produced])
    }

    private func makeFolder(_ name: String) throws -> URL {
        let dir = root.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}
