/// What a layer does to its output after its main product: add a bias and apply a rectifier it
/// absorbed (`Layer.absorb(_:)`), in one pass over memory each way instead of the two or three passes
/// of separate layers. Shared by the convolutions, the fully connected layer and batch norm.
///
/// Forward, `apply` adds the bias and clamps to [0, cap]; backward, `backward` masks dy in place by
/// the clamped output and sums the bias gradient in the same pass. A layer whose kernels do this
/// themselves (the direct and depthwise kernels, batch norm) reads `bias` and `cap` instead.
///
/// The absorbed ReLU keeps its entry in `Sequential`'s memory plan, where it runs in place and reads
/// its output in backward; so the output the layer reads to mask dy is never overwritten.
final class Epilogue {
    /// The bias added to each output channel, if any.
    let bias: Parameter?
    /// The rectifier that followed the layer in place and that the layer now applies, if any.
    private(set) var rectifier: ReLU?
    /// Scratch for the bias gradient's sums, when there is a bias.
    private let sums: ChannelSums?

    /// An epilogue for `channels` output channels, with the layer's bias if it has one.
    init(bias: Parameter?, channels: Int) {
        self.bias = bias
        sums = bias == nil ? nil : ChannelSums(channels: channels)
    }

    /// Takes over `next` when it is a ReLU or ReLU6 (the only layers an epilogue can apply).
    func absorb(_ next: Layer) -> Bool {
        guard let relu = next as? ReLU else { return false }
        rectifier = relu
        return true
    }

    /// The absorbed rectifier's upper bound for the kernels: nil without one, +∞ for a plain ReLU.
    var cap: Float? { rectifier.map { $0.cap ?? .infinity } }

    /// y = clamp(y + bias) over `rows` rows of the layer's output channels, then `affine` (a batch norm
    /// in evaluation folded into the layer) in the same pass: `GemmEpilogue`'s expressions, so the
    /// bits are those of the separate passes.
    func apply(rows: Int, channels: Int, _ y: TensorView, affine: ChannelAffine? = nil) {
        let bias = bias.map { UnsafePointer($0.value.data) }
        guard let affine else {
            biasRectifyForward(bias, rows: rows, channels: channels, cap: cap, y.data)
            return
        }
        Parallel.forEachRange(
            count: rows, grain: max(1, elementGrain / channels),
            GemmEpilogueRows(epilogue: GemmEpilogue(bias: bias, cap: cap, affine: affine), n: channels, c: y.data))
    }

    /// Masks `dy` in place by the rectifier (when one was absorbed) and adds Σ dy to the bias gradient.
    ///
    /// - Parameters:
    ///   - dy: the gradient of the layer's output, overwritten with the gradient before the rectifier.
    ///   - y: the layer's (rectified) output.
    ///   - rows: rows of the output.
    ///   - channels: output channels.
    func backward(_ dy: TensorView, output y: TensorView, rows: Int, channels: Int) {
        let biasGradient = bias.flatMap { bias in sums.map { (sums: $0, dbias: bias.gradient.data) } }
        biasRectifyBackward(dy.data, y.data, rows: rows, channels: channels, cap: cap, biasGradient: biasGradient)
    }
}
