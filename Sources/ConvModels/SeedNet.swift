import ConvEngine

/// The seed document's TensorFlow network, layer for layer (design.md §4): conv 3×3/32 + bias + ReLU,
/// max-pool 2, two separable blocks, max-pool 2, two separable blocks, max-pool 2, flatten, dense.
///
/// A separable block is a per-channel 3×3 convolution with a bias and a ReLU, then a 1×1 convolution
/// to 32 channels with a bias and a ReLU. Its standard baseline replaces each block by one 3×3
/// convolution 32→32 with a bias and a ReLU. No batch norm anywhere, as in the seed.
public enum SeedNet {
    /// One row of the network's table.
    enum Row { case conv(Int), maxPool, separable(Int) }

    /// The body, top to bottom.
    static let rows: [Row] = [.conv(32), .maxPool, .separable(32), .separable(32), .maxPool,
                              .separable(32), .separable(32), .maxPool]

    static func layers(_ c: ModelConfiguration) throws -> [Sequential.Entry] {
        var list = LayerList()
        var channels = 3, side = c.resolution
        for row in rows {
            switch row {
            case .conv(let out):
                try list.appendActivated(Conv2D(inputChannels: channels, outputChannels: out, kernelSize: 3, padding: 1),
                                         channels: out, batchNorm: false)
                channels = out
            case .maxPool:
                list.append(try MaxPool2D(kernelSize: 2))
                side /= 2
            case .separable(let out) where c.standard:
                try list.appendActivated(Conv2D(inputChannels: channels, outputChannels: out, kernelSize: 3, padding: 1),
                                         channels: out, batchNorm: false)
                channels = out
            case .separable(let out):
                try list.appendActivated(DepthwiseConv2D(channels: channels, kernelSize: 3, padding: 1, bias: true),
                                         channels: channels, batchNorm: false)
                try list.appendActivated(PointwiseConv2D(inputChannels: channels, outputChannels: out, bias: true),
                                         channels: out, batchNorm: false)
                channels = out
            }
        }
        list.append(Flatten())
        list.append(try Linear(inputFeatures: side * side * channels, outputFeatures: c.classCount,
                               flattenedFrom: (side, side, channels)))
        return list.entries
    }
}
