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
    public static func scaled(_ channels: Int, _ alpha: Float) -> Int { max(8, Int(Float(channels) * alpha)) }

    static func layers(_ c: ModelConfiguration) throws -> [Sequential.Entry] {
        var list = LayerList()
        var channels = scaled(stemChannels, c.widthMultiplier)
        try list.appendActivated(Conv2D(inputChannels: 3, outputChannels: channels, kernelSize: 3,
                                        stride: c.stem == .imagenet ? 2 : 1, padding: 1, bias: false),
                                 channels: channels, batchNorm: true)
        for block in blocks {
            let out = scaled(block.outputChannels, c.widthMultiplier)
            if c.standard {
                try list.appendActivated(Conv2D(inputChannels: channels, outputChannels: out, kernelSize: 3,
                                                stride: block.stride, padding: 1, bias: false),
                                         channels: out, batchNorm: true)
            } else {
                try list.appendActivated(DepthwiseConv2D(channels: channels, kernelSize: 3, stride: block.stride, padding: 1),
                                         channels: channels, batchNorm: true)
                try list.appendActivated(PointwiseConv2D(inputChannels: channels, outputChannels: out),
                                         channels: out, batchNorm: true)
            }
            channels = out
        }
        list.append(GlobalAvgPool())
        list.append(Flatten())
        list.append(try Linear(inputFeatures: channels, outputFeatures: c.classCount))
        return list.entries
    }
}
