import ConvEngine
import Foundation
import Testing

@testable import CIFAR

/// Every malformed input is a clear error naming the file and the problem; none crashes.
@Suite struct MalformedDataTests {
    func expectError(
        _ label: String, containing reason: String, sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () throws -> Void
    ) {
        do {
            try body()
            Issue.record("\(label): accepted", sourceLocation: sourceLocation)
        } catch let error as EngineError {
            #expect("\(error)".contains(reason), "\(label): \(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(label): unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func malformedBinaryFilesAreErrorsNamingTheFile() throws {
        let w = try FixtureWriter()
        defer { w.remove() }
        let train = FixtureWriter.images(count: 10, classes: 10, seed: 5),
            test = FixtureWriter.images(count: 2, classes: 10, seed: 6)
        let dir = try w.writeBinary10(train: train, test: test)
        let batch = dir.appendingPathComponent("data_batch_3.bin")
        let good = try Data(contentsOf: batch)
        try good.dropLast(100).write(to: batch)
        expectError("truncated record", containing: "data_batch_3.bin: 6046 bytes is not a whole number of 3073-byte records") {
            _ = try CIFARDataset.load(from: dir)
        }
        try (good + Data([1, 2, 3])).write(to: batch)
        expectError("wrong file size", containing: "not a whole number") { _ = try CIFARDataset.load(from: dir) }
        var badLabel = good
        badLabel[3073] = 12
        try badLabel.write(to: batch)
        expectError("label out of range", containing: "data_batch_3.bin: label 12 of image 1 is outside 0..<10") {
            _ = try CIFARDataset.load(from: dir)
        }
        try good.write(to: batch)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("data_batch_5.bin"))
        expectError("missing batch", containing: "data_batch_5.bin") { _ = try CIFARDataset.load(from: dir) }
    }

    @Test func malformedPicklesAreErrorsNamingTheFileAndByte() throws {
        let images = FixtureWriter.images(count: 3, classes: 10, seed: 7)
        let good = FixtureWriter.batchPickle(images, label: "x", form: .python2)
        func read(_ bytes: [UInt8]) throws {
            _ = try PythonBatches.batch((bytes, "data_batch_1"), fine: "labels", coarse: nil, classes: 10)
        }
        var badOpcode = good
        badOpcode[2] = 0xFF
        expectError("bad opcode", containing: "data_batch_1: malformed pickle at byte 2: unsupported opcode 0xff") {
            try read(badOpcode)
        }
        // Cut inside the BINSTRING that holds the pixels.
        expectError("truncated BINSTRING", containing: "truncated") { try read(Array(good.prefix(good.count - 600))) }
        expectError("empty file", containing: "truncated") { try read([]) }
        // A BINSTRING claiming 4 GiB.
        var huge = good
        if let t = huge.indices.first(where: {
            huge[$0] == UInt8(ascii: "T") && huge[$0 + 4] == 0 && huge[$0 + 3] == 0 && huge[$0 + 2] != 0
        }) {
            huge[t + 1] = 0xFF
            huge[t + 2] = 0xFF
            huge[t + 3] = 0xFF
            huge[t + 4] = 0x7F
        }
        expectError("absurd BINSTRING length", containing: "truncated") { try read(huge) }
        // Wrong shape: 3 rows declared as 2 × 4608.
        let wrongShape = FixtureWriter.batchPickleWithShape(images, rows: 2, cols: 4608)
        expectError("wrong shape", containing: "\"data\" has shape [2, 4608], not [N, 3072]") { try read(wrongShape) }
        // Too few labels for the images.
        var short = images
        short.labels.removeLast()
        short.pixels.removeLast(3072)
        let mismatched = FixtureWriter.batchPickleMixing(labelsOf: short, imagesOf: images)
        expectError("label count", containing: "2 entries in \"labels\" for 3 images") { try read(mismatched) }
        // Not a dict at all.
        expectError("not a dict", containing: "not a dict") { try read([0x80, 2, UInt8(ascii: "K"), 5, UInt8(ascii: ".")]) }
        // Stack underflow.
        expectError("underflow", containing: "stack underflow") { try read([0x80, 2, UInt8(ascii: "a"), UInt8(ascii: ".")]) }
        // 8-byte lengths near 2^63 (BINBYTES8, BINUNICODE8, BYTEARRAY8) once overflowed `position + n`.
        for opcode: UInt8 in [0x8e, 0x8d, 0x96] {
            let length: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]  // 2^63 − 1
            expectError("8-byte length 0x\(String(opcode, radix: 16))", containing: "truncated") {
                try read([0x80, 4, opcode] + length + [UInt8(ascii: ".")])
            }
        }
        // A shape (2^62, 2^62) once overflowed the element count.
        let hugeShape = FixtureWriter.batchPickleWithShape(images, rows: 1 << 62, cols: 1 << 62)
        expectError("shape (2^62, 2^62)", containing: "too large") { try read(hugeShape) }
        // 200,000 nested one-tuples (a 200 KB file) once overflowed the stack when they were freed.
        let deep: [UInt8] = [0x80, 2, UInt8(ascii: "N")] + [UInt8](repeating: 0x85, count: 200_000) + [UInt8(ascii: ".")]
        expectError("200,000 nested tuples", containing: "nest deeper than 100 levels") { try read(deep) }
        // Nesting within the limit still reads (and is then not a dict).
        let shallow: [UInt8] = [0x80, 2, UInt8(ascii: "N")] + [UInt8](repeating: 0x85, count: 99) + [UInt8(ascii: ".")]
        expectError("99 nested tuples", containing: "not a dict") { try read(shallow) }
        // A list that grows deeper after a tuple took it in (no pickler writes this).
        let regrown: [UInt8] = [
            0x80, 2, UInt8(ascii: "]"), UInt8(ascii: "q"), 1, 0x85, UInt8(ascii: "h"), 1,
            UInt8(ascii: "N"), 0x85, UInt8(ascii: "a"), 0x86, UInt8(ascii: "."),
        ]
        expectError("list grown after nesting", containing: "grows deeper") { try read(regrown) }
    }

    @Test func corruptOrTruncatedArchivesAreErrorsNamingTheArchive() throws {
        let w = try FixtureWriter()
        defer { w.remove() }
        _ = try w.writeBinary10(
            train: FixtureWriter.images(count: 10, classes: 10, seed: 8),
            test: FixtureWriter.images(count: 2, classes: 10, seed: 9))
        let archive = try w.writeArchive(folder: "cifar-10-batches-bin", name: "cifar-10-binary.tar.gz")
        let bytes = [UInt8](try Data(contentsOf: archive))
        var corrupt = bytes
        for i in 20..<60 { corrupt[i] ^= 0x5A }
        try Data(corrupt).write(to: archive)
        expectError("corrupt gzip", containing: "cifar-10-binary.tar.gz: corrupt gzip data") {
            _ = try CIFARDataset.load(from: archive)
        }
        try Data(bytes.prefix(bytes.count / 2)).write(to: archive)
        expectError("truncated gzip", containing: "ends early") { _ = try CIFARDataset.load(from: archive) }
        // A complete gzip stream of a tar cut in the middle of an entry.
        let tar = try FixtureWriter.gunzip(bytes)
        try Data(FixtureWriter.gzip(Array(tar.prefix(20_000)))).write(to: archive)
        expectError("truncated tar", containing: "truncated") { _ = try CIFARDataset.load(from: archive) }
        var badChecksum = tar
        badChecksum[0] ^= 1
        try Data(FixtureWriter.gzip(badChecksum)).write(to: archive)
        expectError("tar checksum", containing: "bad checksum") { _ = try CIFARDataset.load(from: archive) }
        // A size of -1 with a corrected checksum once trapped (the octal parser accepted a sign).
        for size in ["-1", "-0000000001", "+10", "77777777777777", "12x"] {
            var header = FixtureWriter.tarHeader(name: "cifar-10-batches-bin/x", size: 0, type: UInt8(ascii: "0"))
            for i in 124..<136 { header[i] = 0 }
            for (i, b) in size.utf8.prefix(12).enumerated() { header[124 + i] = b }
            FixtureWriter.fixTarChecksum(&header)
            expectError("tar size \(size)", containing: "malformed size") {
                _ = try Tar.files(in: header + [UInt8](repeating: 0, count: 1024), source: "t.tar")
            }
        }
    }

    /// A small stream that inflates past the limit is refused before it fills memory.
    @Test func aGzipBombIsRefused() throws {
        let bomb = FixtureWriter.gzip([UInt8](repeating: 0, count: 4 << 20))
        expectError("gzip bomb", containing: "inflates past 1 MiB") {
            _ = try Gzip.decompress(bomb, source: "bomb.gz", limit: 1 << 20)
        }
        #expect(try Gzip.decompress(bomb, source: "bomb.gz", limit: 4 << 20).count == 4 << 20)
    }
}

extension FixtureWriter {
    /// A python-2 batch whose data array declares another shape over the same bytes.
    static func batchPickleWithShape(_ images: LabeledImages, rows: Int, cols: Int) -> [UInt8] {
        var p = Pickler(form: .python2)
        p.dict([
            ("labels", { p in p.labels(images.labels) }), ("data", { p in p.uint8Matrix(rows: rows, cols: cols, images.pixels) }),
        ])
        return p.finish()
    }

    /// A python-2 batch with the labels of one set and the images of another.
    static func batchPickleMixing(labelsOf a: LabeledImages, imagesOf b: LabeledImages) -> [UInt8] {
        var p = Pickler(form: .python2)
        p.dict([("labels", { p in p.labels(a.labels) }), ("data", { p in p.uint8Matrix(rows: b.count, cols: 3072, b.pixels) })])
        return p.finish()
    }

    static func gunzip(_ bytes: [UInt8]) throws -> [UInt8] { try Gzip.decompress(bytes, source: "test") }
}
