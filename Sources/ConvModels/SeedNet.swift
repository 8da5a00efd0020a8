import ConvEngine

/// The seed document's TensorFlow network, layer for layer (design.md §4): conv 3×3/32 + bias + ReLU,
/// max-pool 2, two separable blocks, max-pool 2, two separable blocks, max-pool 2, flatten, dense.
///
/// A separable block is a per-channel 3×3 convolution with a bias and a ReLU, then a 1×1 convolution
/// to 32 channels with a bias and a ReLU. Its standard baseline replaces each block by one 3×3
/// convolution 32→32 with a bias and a ReLU. No batch norm anywhere, as in the seed.
public enum SeedNet {
    /// One row of the network's table.
    enum Row {
        /// A 3×3 convolution to this many channels, with bias and ReLU.
        case conv(Int)
        /// A 2×2 max-pool.
        case maxPool
        /// A separable block to this many channels.
        case separable(Int)
    }

    /// The body, top to bottom.
    static let rows: [Row] = [
        .conv(32), .maxPool, .separable(32), .separable(32), .maxPool,
        .separable(32), .separable(32), .maxPool,
    ]

    static func specs(_ c: ModelConfiguration) throws -> [LayerSpec] {
        var list = SpecList()
        var channels = 3, side = c.resolution
        for row in rows {
            switch row {
            case .conv(let out):
                list.appendActivated(
                    .conv(inputs: channels, outputs: out, kernel: 3, stride: 1, padding: 1, bias: true),
                    channels: out, batchNorm: false)
                channels = out
            case .maxPool:
                list.append(.maxPool(kernel: 2))
                side /= 2
            case .separable(let out) where c.standard:
                list.appendActivated(
                    .conv(inputs: channels, outputs: out, kernel: 3, stride: 1, padding: 1, bias: true),
                    channels: out, batchNorm: false)
                channels = out
            case .separable(let out):
                list.appendActivated(
                    .depthwise(channels: channels, kernel: 3, stride: 1, padding: 1, bias: true),
                    channels: channels, batchNorm: false)
                list.appendActivated(.pointwise(inputs: channels, outputs: out, bias: true), channels: out, batchNorm: false)
                channels = out
            }
        }
        list.append(.flatten)
        let features = try Checked.product(
            [side, side, channels],
            orThrow: EngineError.invalidArgument("SeedNet at resolution \(c.resolution) has too many features"))
        list.append(
            .linear(
                inputs: features, outputs: c.classCount,
                flattenedFromHeight: side, width: side, channels: channels))
        return list.specs
    }
}
