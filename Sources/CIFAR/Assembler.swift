import ConvEngine

/// Assembles batches; owns the current epoch's order. One per thread that assembles.
struct Assembler {
    let images: LabeledImages
    let options: BatchLoader.Options
    private var order: [Int32]
    private var orderEpoch = -1
    private let scale: (Float, Float, Float), shift: (Float, Float, Float)

    init(images: LabeledImages, options: BatchLoader.Options) {
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
        RandomGenerator(seed: seed ^ (UInt64(bitPattern: Int64(epoch)) &* 0xD1B5_4A32_D192_ED03)
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

    mutating func assemble(_ position: BatchLoader.Position, batchesPerEpoch: Int,
                           images out: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) -> Int {
        prepareOrder(position.epoch)
        let start = position.batch * options.batchSize
        let count = min(options.batchSize, images.count - start)
        let floatsPerImage = LabeledImages.imageBytes
        images.pixels.withUnsafeBufferPointer { pixels in
            for i in 0..<count {
                let index = Int(order[start + i])
                labels[i] = images.labels[index]
                var dx = 0, dy = 0, flip = false
                if let a = options.augmentation {
                    var g = Self.generator(options.seed, position.epoch, start + i)
                    if a.padding > 0 {
                        dx = Int(g.next() % UInt64(2 * a.padding + 1)) - a.padding
                        dy = Int(g.next() % UInt64(2 * a.padding + 1)) - a.padding
                    }
                    flip = a.horizontalFlip && g.next() & 1 == 1
                }
                assembleImage(pixels.baseAddress! + index * floatsPerImage, dx: dx, dy: dy, flip: flip,
                              scale: scale, shift: shift, into: out + i * floatsPerImage)
            }
        }
        return count
    }
}
