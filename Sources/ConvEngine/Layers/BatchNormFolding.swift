/// A layer that can apply a batch norm in evaluation that follows it (with the batch norm's
/// rectifier) in its own forward pass, with the same bits as the batch norm's pass.
protocol BatchNormFolding: Layer {
    /// The rectifier the layer applies itself (then nothing is folded into it).
    var fusedRectifier: ReLU? { get }
    /// The forward pass, then `affine` on the output.
    func forward(_ x: TensorView, into y: TensorView, affine: ChannelAffine?, context: ExecutionContext) throws
}

extension Conv2D: BatchNormFolding {}
extension DepthwiseConv2D: BatchNormFolding {}
extension PointwiseConv2D: BatchNormFolding {}
