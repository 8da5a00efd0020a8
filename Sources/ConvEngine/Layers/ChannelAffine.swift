/// y = x·scale[c] + shift[c] per channel, clamped to [0, cap] when `cap` is given: a batch norm in
/// evaluation, with the rectifier it absorbed, for a layer before it to apply in its own pass.
struct ChannelAffine {
    /// The per-channel factor.
    let scale: UnsafePointer<Float>
    /// The per-channel offset.
    let shift: UnsafePointer<Float>
    /// The rectifier's upper bound: nil without one, +∞ for a plain ReLU.
    let cap: Float?
}
