import CIFAR
import ConvEngine
import Testing

@Suite struct BatchLoaderTests {
    static let images = FixtureWriter.images(count: 23, classes: 10, seed: 11)

    /// Reads `count` batches: the labels and a checksum of the image floats of each.
    func drain(_ loader: BatchLoader, count: Int) throws -> [[Int32]] {
        var images = [Float](repeating: 0, count: loader.imageFloatsPerBatch)
        var labels = [Int32](repeating: 0, count: loader.options.batchSize)
        return try (0..<count).map { _ in
            let n = try images.withUnsafeMutableBufferPointer { i in
                try labels.withUnsafeMutableBufferPointer { try loader.next(images: i.baseAddress!, labels: $0.baseAddress!) }
            }
            // Fold the pixels into the record so that the comparison covers augmentation too.
            let sum = images[0..<(n * 3072)].reduce(0.0) { $0 + Double($1) }
            return Array(labels[0..<n]) + [Int32(truncatingIfNeeded: Int(sum * 1000))]
        }
    }

    func options(_ batch: Int = 5, drop: Bool = true) -> BatchLoader.Options {
        .init(
            batchSize: batch, transform: .fixedSize(augmentation: .standard, side: 32), normalization: .cifar10,
            dropLastPartialBatch: drop, seed: 42)
    }

    @Test func prefetchDeliversTheSameBatchesInTheSameOrder() throws {
        let plain = try BatchLoader(images: Self.images, options: options())
        let prefetched = try BatchLoader(images: Self.images, options: options())
        prefetched.startPrefetching()
        #expect(try drain(plain, count: 13) == drain(prefetched, count: 13))
        #expect(plain.position == prefetched.position)
    }

    @Test func resumingFromAPositionContinuesTheSameSequence() throws {
        let straight = try BatchLoader(images: Self.images, options: options())
        let expected = try drain(straight, count: 11)
        let first = try BatchLoader(images: Self.images, options: options())
        first.startPrefetching()
        let head = try drain(first, count: 6)
        let saved = first.position
        #expect(saved.description == "1:2")  // 4 batches per epoch
        let resumed = try BatchLoader(images: Self.images, options: options())
        try resumed.seek(to: BatchLoader.Position(saved.description)!)
        resumed.startPrefetching()
        #expect(try head + drain(resumed, count: 5) == expected)
    }

    @Test func everyEpochIsAPermutationAndEpochsDiffer() throws {
        var opts = options(23)
        opts.transform = .fixedSize(augmentation: nil, side: 32)
        let loader = try BatchLoader(images: Self.images, options: opts)
        var images = [Float](repeating: 0, count: loader.imageFloatsPerBatch)
        var labels = [Int32](repeating: 0, count: 23)
        var epochs: [[Float]] = []
        for _ in 0..<2 {
            _ = try images.withUnsafeMutableBufferPointer { i in
                try labels.withUnsafeMutableBufferPointer { try loader.next(images: i.baseAddress!, labels: $0.baseAddress!) }
            }
            epochs.append(images)
            #expect(labels.sorted() == Self.images.labels.sorted())
        }
        #expect(epochs[0] != epochs[1])
    }

    @Test func lastPartialBatchIsKeptOrDropped() throws {
        let dropping = try BatchLoader(images: Self.images, options: options(5, drop: true))
        let keeping = try BatchLoader(images: Self.images, options: options(5, drop: false))
        #expect(dropping.batchesPerEpoch == 4 && keeping.batchesPerEpoch == 5)
        let kept = try drain(keeping, count: 6)
        #expect(kept[4].count == 3 + 1 && kept[5].count == 5 + 1)  // 3 images then a new epoch's 5 (+ checksum)
        #expect(throws: EngineError.self) { try BatchLoader(images: Self.images, options: options(30, drop: true)) }
        #expect(throws: EngineError.self) { try BatchLoader(images: Self.images, options: options(0)) }
        #expect(throws: EngineError.self) { try dropping.seek(to: .init(epoch: 0, batch: 4)) }
    }

    /// Without augmentation an image is its record, normalised; with a known crop and flip the
    /// pixels move where torchvision's RandomCrop(32, padding=4) + flip would put them.
    @Test func normalisationCropAndFlipMatchTheirDefinitions() throws {
        let one = try LabeledImages(pixels: Array(Self.images.pixels[0..<3072]), labels: [Self.images.labels[0]])
        let loader = try BatchLoader(images: one, options: .init(batchSize: 1, shuffle: false, normalization: .seed))
        var out = [Float](repeating: 0, count: 3072)
        var label: Int32 = 0
        _ = try out.withUnsafeMutableBufferPointer { try loader.next(images: $0.baseAddress!, labels: &label) }
        for (y, x, c) in [(0, 0, 0), (5, 17, 1), (31, 31, 2)] {
            #expect(abs(out[(y * 32 + x) * 3 + c] - (Float(one.pixels[c * 1024 + y * 32 + x]) / 127.5 - 1)) < 1e-6)
        }
        // Mean/std: a black pixel becomes −mean/std.
        let black = try LabeledImages(pixels: [UInt8](repeating: 0, count: 3072), labels: [0])
        let meanStd = try BatchLoader(images: black, options: .init(batchSize: 1, shuffle: false, normalization: .cifar10))
        _ = try out.withUnsafeMutableBufferPointer { try meanStd.next(images: $0.baseAddress!, labels: &label) }
        #expect(abs(out[0] - (-0.4914 / 0.2023)) < 1e-5 && abs(out[2] - (-0.4465 / 0.2010)) < 1e-5)
        // With augmentation every output pixel is the source pixel shifted by one (dx, dy), mirrored or
        // not, or black padding: find the transform and check all 3072 values against it.
        let augmented = try BatchLoader(
            images: one,
            options: .init(
                batchSize: 1, shuffle: false, transform: .fixedSize(augmentation: .standard, side: 32),
                normalization: .seed, seed: 5))
        var sawShiftOrFlip = false
        for _ in 0..<8 {
            _ = try out.withUnsafeMutableBufferPointer { try augmented.next(images: $0.baseAddress!, labels: &label) }
            var matched = false
            for dy in -4...4 {
                for dx in -4...4 {
                    for flip in [false, true] where !matched {
                        matched = (0..<32).allSatisfy { y in
                            (0..<32).allSatisfy { x in
                                (0..<3).allSatisfy { c in
                                    let sx = (flip ? 31 - x : x) + dx, sy = y + dy
                                    let expected: Float =
                                        (0..<32).contains(sx) && (0..<32).contains(sy)
                                        ? Float(one.pixels[c * 1024 + sy * 32 + sx]) / 127.5 - 1 : -1
                                    return abs(out[(y * 32 + x) * 3 + c] - expected) < 1e-6
                                }
                            }
                        }
                        if matched && (dx != 0 || dy != 0 || flip) { sawShiftOrFlip = true }
                    }
                }
            }
            #expect(matched, "an augmented image is not a crop/flip of its record")
        }
        #expect(sawShiftOrFlip)
    }

    /// One batch of `images` as floats.
    func batch(_ images: ImageSet, _ options: BatchLoader.Options) throws -> [Float] {
        let loader = try BatchLoader(images: images, options: options)
        var out = [Float](repeating: 0, count: loader.imageFloatsPerBatch)
        var labels = [Int32](repeating: 0, count: options.batchSize)
        _ = try out.withUnsafeMutableBufferPointer { o in
            try labels.withUnsafeMutableBufferPointer { try loader.next(images: o.baseAddress!, labels: $0.baseAddress!) }
        }
        return out
    }

    /// Cutout blanks, in each image, one square of the given side clipped at the edges (at least a
    /// quarter of it), to 0 after normalisation, and changes nothing else: the crop and flip are those
    /// of the batch without Cutout. The CIFAR records' path and the decoded images' path agree.
    @Test func cutoutBlanksOneClippedSquareAndNothingElse() throws {
        let records = ImageSet(records: Self.images)
        let decoded = try ImageSet(
            images: (0..<Self.images.count).map { i in
                Self.images.pixels.withUnsafeBufferPointer { RGBImage(planarRecord: $0.baseAddress! + i * 3072) }
            }, labels: Self.images.labels)
        var options = options(20)
        let plain = try batch(records, options)
        options.cutout = 8
        let cut = try batch(records, options)
        #expect(try batch(decoded, options) == cut)
        for i in 0..<20 {
            let changed = (0..<1024).filter { p in (0..<3).contains { cut[i * 3072 + p * 3 + $0] != plain[i * 3072 + p * 3 + $0] }
            }
            let rows = Set(changed.map { $0 / 32 }), columns = Set(changed.map { $0 % 32 })
            #expect(changed.allSatisfy { p in (0..<3).allSatisfy { cut[i * 3072 + p * 3 + $0] == 0 } })
            // The blank square: every pixel within its rows and columns, a rectangle of 4 to 8 on a side.
            #expect((4...8).contains(rows.count) && (4...8).contains(columns.count), "image \(i): \(rows.count)×\(columns.count)")
            #expect(changed.count == rows.count * columns.count, "image \(i) is not blanked in one rectangle")
            #expect(rows.max()! - rows.min()! == rows.count - 1 && columns.max()! - columns.min()! == columns.count - 1)
        }
        options.cutout = 33
        #expect(throws: EngineError.self) { try BatchLoader(images: Self.images, options: options) }
    }
}

/// The parts of a batch that the processes of a data-parallel run take are the whole batch, image
/// for image and pixel for pixel, augmentation (crop, flip, Cutout) included, across epochs and with prefetching.
@Suite struct BatchLoaderShardTests {
    static let images = FixtureWriter.images(count: 61, classes: 10, seed: 5)

    /// `count` batches: labels and image floats.
    func batches(_ loader: BatchLoader, count: Int) throws -> [([Int32], [Float])] {
        var images = [Float](repeating: 0, count: loader.imageFloatsPerBatch)
        var labels = [Int32](repeating: 0, count: loader.options.batchSize)
        return try (0..<count).map { _ in
            let n = try images.withUnsafeMutableBufferPointer { i in
                try labels.withUnsafeMutableBufferPointer { try loader.next(images: i.baseAddress!, labels: $0.baseAddress!) }
            }
            return (Array(labels[0..<n]), Array(images[0..<(n * 3072)]))
        }
    }

    @Test(arguments: [2, 3, 4]) func partsMakeTheWholeBatch(processes: Int) throws {
        var options = BatchLoader.Options(
            batchSize: 12, transform: .fixedSize(augmentation: .standard, side: 32), normalization: .cifar10,
            dropLastPartialBatch: true, seed: 9)
        options.cutout = 8
        let whole = try batches(try BatchLoader(images: Self.images, options: options), count: 14)
        let parts = try (0..<processes).map { p in
            let loader = try BatchLoader(images: Self.images, options: options.sharded(.init(index: p, count: processes)))
            loader.startPrefetching()
            return try batches(loader, count: 14)
        }
        for b in 0..<14 {
            #expect(parts.flatMap { $0[b].0 } == whole[b].0, "labels of batch \(b)")
            #expect(parts.flatMap { $0[b].1 } == whole[b].1, "pixels of batch \(b)")
            #expect(parts.map { $0[b].0.count } == (0..<processes).map { 12 * ($0 + 1) / processes - 12 * $0 / processes })
        }
    }

    @Test func aShardThatCannotHoldAnImageIsAnError() throws {
        let options = BatchLoader.Options(
            batchSize: 4, transform: .fixedSize(augmentation: nil, side: 32), normalization: .cifar10, seed: 1)
        #expect(throws: EngineError.self) {
            try BatchLoader(images: Self.images, options: options.sharded(.init(index: 0, count: 5)))
        }
        #expect(throws: EngineError.self) {
            try BatchLoader(images: Self.images, options: options.sharded(.init(index: 2, count: 2)))
        }
        #expect(throws: Never.self) { try BatchLoader(images: Self.images, options: options.sharded(.init(index: 3, count: 4))) }
    }
}
