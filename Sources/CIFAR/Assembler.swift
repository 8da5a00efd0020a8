import ConvEngine
import Dispatch
import Synchronization

/// Assembles batches; owns the current epoch's order. One per thread that assembles.
struct Assembler {
    let images: ImageSet
    let options: BatchLoader.Options
    private var order: [Int32]
    private var orderEpoch = -1
    private let scale: (Float, Float, Float), shift: (Float, Float, Float)

    init(images: ImageSet, options: BatchLoader.Options) {
        self.images = images
        self.options = options
        order = (0..<images.count).map { Int32($0) }
        let (s, t) = options.normalization.scaleAndShift
        scale = (s[0], s[1], s[2])
        shift = (t[0], t[1], t[2])
    }

    /// A generator for a (seed, epoch, item) triple: SplitMix-seeded, so neighbouring triples differ.
    /// Item −1 is the epoch's shuffle.
    static func generator(_ seed: UInt64, _ epoch: Int, _ item: Int) -> RandomGenerator {
        RandomGenerator(
            seed: seed ^ (UInt64(bitPattern: Int64(epoch)) &* 0xD1B5_4A32_D192_ED03)
                ^ (UInt64(bitPattern: Int64(item)) &* 0x8CB9_2BA7_2F3D_8DD7))
    }

    /// Reshuffles `order` in place for `epoch` (Fisher–Yates), from the identity.
    private mutating func prepareOrder(_ epoch: Int) {
        guard epoch != orderEpoch else { return }
        orderEpoch = epoch
        for i in 0..<order.count { order[i] = Int32(i) }
        guard options.shuffle else { return }
        var g = Self.generator(options.seed, epoch, -1)
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            let j = Int(g.next() % UInt64(i + 1))
            order.swapAt(i, j)
        }
    }

    mutating func assemble(
        _ position: BatchLoader.Position, batchesPerEpoch: Int,
        images out: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>
    ) throws -> Int {
        prepareOrder(position.epoch)
        let batchStart = position.batch * options.batchSize
        let part = options.shard.items(of: min(options.batchSize, images.count - batchStart))
        let start = batchStart + part.lowerBound, count = part.count
        for i in 0..<count { labels[i] = images.labels[Int(order[start + i])] }
        // CIFAR's records at their own size: straight from the planar bytes.
        if case .records(let records) = images.storage, case .fixedSize(let augmentation, LabeledImages.side) = options.transform
        {
            assembleRecords(records, augmentation: augmentation, position: position, start: start, count: count, into: out)
            applyCutout(epoch: position.epoch, start: start, count: count, to: out)
            return count
        }
        let item = ItemAssembly(
            images: images, order: order, transform: options.transform, seed: options.seed,
            epoch: position.epoch, start: start, scale: scale, shift: shift, out: out)
        defer { applyCutout(epoch: position.epoch, start: start, count: count, to: out) }
        guard images.decodesOnTheFly && options.decodeThreads > 1 && count > 1 else {
            for i in 0..<count { try item.run(i) }
            return count
        }
        // Files: decoded and transformed on several threads, each image on one, so the order of the
        // work changes nothing in the result.
        let failure = Mutex<Error?>(nil), threads = min(options.decodeThreads, count)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in stride(from: t, to: count, by: threads) {
                do { try item.run(i) } catch { failure.withLock { if $0 == nil { $0 = error } } }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        return count
    }

    /// Blanks each image's Cutout square. Its centre comes from a generator of its own per item (the
    /// item's seed with the high bit flipped), so the crop and flip draws stay those of a run without
    /// Cutout, and a process of a data-parallel run draws the squares one process would.
    private func applyCutout(epoch: Int, start: Int, count: Int, to out: UnsafeMutablePointer<Float>) {
        let size = options.cutout, side = options.transform.side
        guard size > 0 else { return }
        for i in 0..<count {
            var g = Self.generator(options.seed ^ (1 << 63), epoch, start + i)
            let cy = Int(g.next() % UInt64(side)), cx = Int(g.next() % UInt64(side))
            let top = max(0, cy - size / 2), bottom = min(side, cy - size / 2 + size)
            let left = max(0, cx - size / 2), right = min(side, cx - size / 2 + size)
            guard top < bottom && left < right else { continue }
            let image = out + i * side * side * 3
            for y in top..<bottom {
                (image + (y * side + left) * 3).update(repeating: 0, count: (right - left) * 3)
            }
        }
    }

    private func assembleRecords(
        _ records: LabeledImages, augmentation: Augmentation?, position: BatchLoader.Position,
        start: Int, count: Int, into out: UnsafeMutablePointer<Float>
    ) {
        let floatsPerImage = LabeledImages.imageBytes
        records.pixels.withUnsafeBufferPointer { pixels in
            for i in 0..<count {
                let index = Int(order[start + i])
                var dx = 0, dy = 0, flip = false
                if let a = augmentation {
                    // The draws of ImageTransform.fixedSize, in the same order.
                    var g = Self.generator(options.seed, position.epoch, start + i)
                    if a.padding > 0 {
                        dx = Int(g.next() % UInt64(2 * a.padding + 1)) - a.padding
                        dy = Int(g.next() % UInt64(2 * a.padding + 1)) - a.padding
                    }
                    flip = a.horizontalFlip && g.next() & 1 == 1
                }
                assembleImage(
                    pixels.baseAddress! + index * floatsPerImage, dx: dx, dy: dy, flip: flip,
                    scale: scale, shift: shift, into: out + i * floatsPerImage)
            }
        }
    }
}

/// One batch item: its image decoded, transformed with its own draws, written normalised.
private struct ItemAssembly: @unchecked Sendable {
    let images: ImageSet, order: [Int32], transform: ImageTransform, seed: UInt64, epoch: Int, start: Int
    let scale: (Float, Float, Float), shift: (Float, Float, Float)
    let out: UnsafeMutablePointer<Float>

    func run(_ i: Int) throws {
        var g = Assembler.generator(seed, epoch, start + i)
        let image = transform.apply(try images.image(at: Int(order[start + i])), generator: &g)
        let side = transform.side, o = out + i * side * side * 3
        image.pixels.withUnsafeBufferPointer { p in
            for j in 0..<(side * side) {
                o[3 * j] = Float(p[3 * j]) * scale.0 + shift.0
                o[3 * j + 1] = Float(p[3 * j + 1]) * scale.1 + shift.1
                o[3 * j + 2] = Float(p[3 * j + 2]) * scale.2 + shift.2
            }
        }
    }
}
