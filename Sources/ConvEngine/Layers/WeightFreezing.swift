/// A layer that can pack its weights once for the evaluation passes of a network whose weights are
/// frozen (`Sequential.freezeWeights()`), instead of on every pass.
protocol WeightFreezing: Layer {
    /// Packs the weights as they are now; evaluation passes read that copy until `thawWeights()`.
    func freezeWeights()
    /// Stops reading the packed copy: passes read the weights themselves again. The copy's buffer
    /// stays for the next freeze.
    func thawWeights()
}

extension PointwiseConv2D: WeightFreezing {}
