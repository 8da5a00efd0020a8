/// What a product does to rows of C right after computing them, while they are in cache: a layer's
/// bias and rectifier (`biasRectify`), then a batch norm in evaluation folded in (`channelAffine`),
/// each the same expression as in its own pass, so the bits are those of the separate passes.
struct GemmEpilogue {
    /// Added to each row.
    var bias: UnsafePointer<Float>?
    /// The layer's own rectifier: nil for none, +∞ for ReLU.
    var cap: Float?
    /// A batch norm in evaluation (with its rectifier) applied after the bias and the clamp.
    var affine: ChannelAffine?

    /// Whether it does nothing.
    var isEmpty: Bool { bias == nil && cap == nil && affine == nil }

    /// Applies it to `rows` of C, `[m × n]` row-major, on the calling thread.
    func apply(rows: Range<Int>, columns n: Int, _ c: UnsafeMutablePointer<Float>) {
        biasRectify(bias, rows: rows, channels: n, cap: cap, c)
        if let affine {
            channelAffine(c, rows: rows, channels: n, scale: affine.scale, shift: affine.shift, cap: affine.cap, c)
        }
    }
}

/// A row slice of a `GemmEpilogue` pass after a product cut into bands of columns.
struct GemmEpilogueRows: RangeJob {
    let epilogue: GemmEpilogue, n: Int, c: UnsafeMutablePointer<Float>

    func run(range: Range<Int>, slice: Int) { epilogue.apply(rows: range, columns: n, c) }
}
