import CIFAR
import ConvEngine
import Foundation
import Testing

/// A folder of images written by the test: JPEG through libjpeg-turbo, PNG by hand.
struct FolderWriter {
    let root: URL

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("folder-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(at: root) }

    /// A `width` × `height` image whose pixels encode `seed`.
    static func image(_ width: Int, _ height: Int, seed: Int) -> RGBImage {
        let pixels: [UInt8] = (0..<(width * height * 3)).map { (i: Int) -> UInt8 in
            let x = i / 3 % width, y = i / 3 / width
            return UInt8(truncatingIfNeeded: seed * 37 + x * 5 + y * 3 + (i % 3) * 60)
        }
        return try! RGBImage(width: width, height: height, pixels: pixels)  // sizes consistent by construction
    }

    /// Writes `image` at `path` (relative to the root) as a JPEG or, for a .png path, a PNG.
    @discardableResult
    func write(_ path: String, _ image: RGBImage) throws -> URL {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let rows = (0..<image.height).map { y in Array(image.pixels[(y * image.width * 3)..<((y + 1) * image.width * 3)]) }
        let bytes =
            url.pathExtension == "png"
            ? PNGWriter.png(width: image.width, height: image.height, depth: 8, type: 2, rows: rows)
            : JPEGWriter.jpeg(image)
        try Data(bytes).write(to: url)
        return url
    }

    /// train/ and val/ with `classes` folders of `perClass` images each, every image `side` square
    /// (or of varying sizes when `side` is nil); the first class's images are PNG.
    func standard(classes: [String] = ["cat", "dog", "bird"], perClass: Int = 4, side: Int? = 16) throws {
        for (c, name) in classes.enumerated() {
            for split in ["train", "val"] {
                for i in 0..<perClass {
                    let w = side ?? 12 + 3 * i + c, h = side ?? 20 - 2 * i + c
                    try write("\(split)/\(name)/\(i).\(c == 0 ? "png" : "jpg")", Self.image(w, h, seed: c * 10 + i))
                }
            }
        }
    }
}

@Suite struct ImageFolderTests {
    func expectError(_ root: URL, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try ImageFolder.load(from: root)
            Issue.record("loaded", sourceLocation: sourceLocation)
        } catch {
            #expect("\(error)".contains(fragment), "\(error)", sourceLocation: sourceLocation)
        }
    }

    /// Classes in sorted folder order (code points, as Python sorts), files as torchvision's
    /// make_dataset walks them (folders by path, files by name), other extensions left out.
    @Test func classesAndFilesFollowTorchvisionsOrder() throws {
        let w = try FolderWriter()
        defer { w.remove() }
        for (i, path) in [
            "train/b/2.jpg", "train/b/10.jpg", "train/b/sub/1.png", "train/b/sub z/0.jpg", "train/B/x.JPG",
            "train/a/only.png", "val/a/v.png", "val/b/v.jpg", "val/B/v.jpg",
        ].enumerated() {
            try w.write(path, FolderWriter.image(8, 8, seed: i))
        }
        try Data("not an image".utf8).write(to: w.root.appendingPathComponent("train/b/notes.txt"))
        let data = try ImageFolder.load(from: w.root)
        #expect(data.classNames == ["B", "a", "b"])
        #expect(data.kind == .folder && data.train.count == 6 && data.test.count == 3)
        #expect(data.train.labels == [0, 1, 2, 2, 2, 2])
        // Files of b: "10.jpg" < "2.jpg" by name; then the folders "b/sub" < "b/sub z".
        let expected = [5, 1, 0, 2, 3].map { FolderWriter.image(8, 8, seed: $0) }
        for (k, seed) in [4, 5].enumerated() {
            #expect(try data.train.image(at: k).pixels.count == FolderWriter.image(8, 8, seed: seed).pixels.count)
        }
        let b = try (2..<6).map { try data.train.image(at: $0) }
        // JPEG is lossy: compare with the nearest of the candidates.
        func nearest(_ image: RGBImage) -> Int {
            (0..<expected.count).min { i, j in
                zip(image.pixels, expected[i].pixels).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }
                    < zip(image.pixels, expected[j].pixels).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }
            }!
        }
        #expect(b.map(nearest) == [1, 2, 3, 4])
        #expect(data.train.fixedSide == 8)
    }

    @Test func layoutProblemsAreClearErrors() throws {
        let w = try FolderWriter()
        defer { w.remove() }
        try w.standard()
        try FileManager.default.moveItem(at: w.root.appendingPathComponent("val"), to: w.root.appendingPathComponent("elsewhere"))
        expectError(w.root, "found no val/ or test/")
        try FileManager.default.moveItem(
            at: w.root.appendingPathComponent("elsewhere"), to: w.root.appendingPathComponent("test"))
        #expect(try ImageFolder.load(from: w.root).test.count == 12)
        try FileManager.default.removeItem(at: w.root.appendingPathComponent("test/dog"))
        expectError(w.root, "has no folder for class \"dog\"")
        try w.write("test/dog/0.jpg", FolderWriter.image(16, 16, seed: 1))
        try w.write("test/emu/0.jpg", FolderWriter.image(16, 16, seed: 1))
        expectError(w.root, "test/emu is a class that train/ does not have")
        try FileManager.default.removeItem(at: w.root.appendingPathComponent("test/emu"))
        try FileManager.default.createDirectory(at: w.root.appendingPathComponent("train/emu"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: w.root.appendingPathComponent("test/emu"), withIntermediateDirectories: true)
        expectError(w.root, "train/emu holds no images")
    }

    /// A corrupt, truncated or non-image file is an error naming it; with skipBadImages it is left
    /// out and listed, in memory and when decoding on the fly.
    @Test func badFilesAreNamedOrSkipped() throws {
        let w = try FolderWriter()
        defer { w.remove() }
        try w.standard()
        let good = try Data(contentsOf: w.root.appendingPathComponent("train/dog/1.jpg"))
        try good.prefix(good.count / 2).write(to: w.root.appendingPathComponent("train/dog/1.jpg"))
        try Data("GIF89a, not really".utf8).write(to: w.root.appendingPathComponent("train/cat/5.png"))
        expectError(w.root, "train/cat/5.png")
        for budget in [1 << 30, 100] {
            let data = try ImageFolder.load(from: w.root, skipBadImages: true, memoryBudget: budget)
            #expect(data.skipped.count == 2 && data.train.count == 11, "\(data.skipped)")
            #expect(
                data.skipped.contains { $0.contains("train/dog/1.jpg") }
                    && data.skipped.contains { $0.contains("train/cat/5.png") })
            #expect(data.train.decodesOnTheFly == (budget == 100))
            #expect(data.storageNote.contains(budget == 100 ? "on the fly" : "kept in memory"))
        }
    }

    /// Decoding on the fly (on several threads) and decoding once give the same batches, at the same
    /// positions, for both pipelines (fixed-size and varying sizes).
    @Test(arguments: [16, nil] as [Int?])
    func onTheFlyAndInMemoryGiveTheSameBatches(_ side: Int?) throws {
        let w = try FolderWriter()
        defer { w.remove() }
        try w.standard(side: side)
        let kept = try ImageFolder.load(from: w.root), streamed = try ImageFolder.load(from: w.root, memoryBudget: 10)
        #expect(!kept.train.decodesOnTheFly && streamed.train.decodesOnTheFly)
        #expect(kept.train.fixedSide == side && streamed.train.fixedSide == side)
        let transform = ImageTransform.choose(side: 24, fixedSide: side, training: true, augment: true)
        func batches(_ set: ImageSet, threads: Int, prefetch: Bool) throws -> [[Float]] {
            let loader = try BatchLoader(
                images: set,
                options: .init(
                    batchSize: 5, transform: transform, normalization: .imagenet,
                    seed: 3, decodeThreads: threads))
            if prefetch { loader.startPrefetching() }
            var out = [Float](repeating: 0, count: loader.imageFloatsPerBatch), labels = [Int32](repeating: 0, count: 5)
            return try (0..<5).map { _ in
                _ = try out.withUnsafeMutableBufferPointer { o in
                    try labels.withUnsafeMutableBufferPointer { try loader.next(images: o.baseAddress!, labels: $0.baseAddress!) }
                }
                return out + labels.map(Float.init)
            }
        }
        let reference = try batches(kept.train, threads: 1, prefetch: false)
        #expect(try batches(streamed.train, threads: 3, prefetch: true) == reference)
        #expect(try batches(streamed.train, threads: 1, prefetch: false) == reference)
    }
}
