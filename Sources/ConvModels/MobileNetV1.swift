import ConvEngine

/// MobileNet v1 from the paper's Table 1: a 3×3 convolution, thirteen depthwise-separable blocks, global
/// average pooling and a linear classifier; batch norm and ReLU after every convolution.
///
/// Its standard baseline (the paper's "Conv MobileNet") replaces each dw + pw pair by one 3×3
/// convolution with the pair's stride and channels, followed by batch norm and ReLU.
public enum MobileNetV1 {
    /// The thirteen separable blocks of Table 1: output channels (before α) and the depthwise stride.
    /// (Row 26's stride is 1; the paper's "s2" there is a known typo.)
    public static let blocks: [(outputChannels: Int, stride: Int)] = [
        (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
        (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
    ]

    /// Channels of the first convolution, before α.
    public static let stemChannels = 32

    /// `int(c·α)`, at least 8.
    ///
    /// - Throws: `EngineError.invalidArgument` when c·α is beyond `Int`'s range.
    public static func scaled(_ channels: Int, _ alpha: Float) throws -> Int {
        max(
            8,
            try Checked.integer(
                Float(channels) * alpha,
                orThrow: EngineError.invalidArgument("width multiplier \(alpha) makes too many channels")))
    }

    /// The first convolution's stride with `stem`.
    public static func stemStride(_ stem: Stem) -> Int { stem == .imagenet ? 2 : 1 }

    /// The output stride of Table 1's strides after `stem`: 16 (CIFAR) or 32 (ImageNet).
    public static func naturalOutputStride(stem: Stem) -> Int {
        blocks.reduce(stemStride(stem)) { $0 * $1.stride }
    }

    /// The blocks' strides for `outputStride`: Table 1's, with the last blocks still at stride 2 run
    /// at stride 1 until the product of the strides is the output stride.
    ///
    /// - Parameter outputStride: a power of two from `stemStride(stem)` to `naturalOutputStride(stem:)`.
    static func blockStrides(stem: Stem, outputStride: Int) -> [Int] {
        var strides = blocks.map(\.stride)
        var excess = naturalOutputStride(stem: stem) / outputStride
        for i in strides.indices.reversed() where excess > 1 && strides[i] == 2 {
            strides[i] = 1
            excess /= 2
        }
        return strides
    }

    static func specs(_ c: ModelConfiguration) throws -> [LayerSpec] {
        var list = SpecList()
        var channels = try scaled(stemChannels, c.widthMultiplier)
        list.appendActivated(
            .conv(inputs: 3, outputs: channels, kernel: 3, stride: stemStride(c.stem), padding: 1, bias: false),
            channels: channels, batchNorm: true)
        let strides = blockStrides(stem: c.stem, outputStride: c.outputStride ?? naturalOutputStride(stem: c.stem))
        for (block, stride) in zip(blocks, strides) {
            let out = try scaled(block.outputChannels, c.widthMultiplier)
            if c.standard {
                list.appendActivated(
                    .conv(inputs: channels, outputs: out, kernel: 3, stride: stride, padding: 1, bias: false),
                    channels: out, batchNorm: true)
            } else {
                list.appendActivated(
                    .depthwise(channels: channels, kernel: 3, stride: stride, padding: 1, bias: false),
                    channels: channels, batchNorm: true)
                list.appendActivated(.pointwise(inputs: channels, outputs: out, bias: false), channels: out, batchNorm: true)
            }
            channels = out
        }
        list.append(.globalAvgPool)
        list.append(.flatten)
        list.append(.linear(inputs: channels, outputs: c.classCount, flattenedFromHeight: nil, width: nil, channels: nil))
        return list.specs
    }
}
