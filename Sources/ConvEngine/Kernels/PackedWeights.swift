/// A layer's weights packed once into `PanelGemm`'s layout (op(B) whole, panels of 16 columns), for
/// the evaluation passes of a network whose weights are frozen (`Sequential.freezeWeights()`).
///
/// Why: a product packs B on every call (OpenBLAS copies it into its own layout in every band, the
/// engine's `SharedPanels` once per call). A batch of one multiplies each weight of a 7×7 or 8×8
/// layer by 49 or 64 pixels only, so the copy costs as much as a quarter of the product; an
/// inference runtime packs the weights when it loads the model, and so does a frozen network.
///
/// Dimension legend (as in `BLAS`): n columns of op(B) (a layer's output channels), k its rows (the
/// input channels).
final class PackedWeights {
    /// Columns of op(B).
    let n: Int
    /// Rows of op(B), the products' inner extent.
    let k: Int
    /// op(B) packed whole: panel p at `p · 16k` (`PanelGemm.packWhole`).
    let panels: UnsafeMutablePointer<Float>

    /// Whether `panels` was packed with B stored `[n × k]`.
    let transposeB: Bool

    /// Packs op(B) of B `[k × n]`, or of B `[n × k]` with `transposeB` (a pointwise layer's weights
    /// `[out × in]`), its panels spread over `Parallel`'s threads.
    init(transposeB: Bool, _ b: UnsafePointer<Float>, n: Int, k: Int) {
        self.n = n
        self.k = k
        self.transposeB = transposeB
        panels = .allocate(capacity: PanelGemm.wholePackFloats(n: n, k: k))
        pack(b)
    }

    /// Packs B (of the shape and layout given at `init`) again into the same panels: a new freeze
    /// of changed weights allocates nothing (a fresh buffer of a layer's weights, faulted in page by
    /// page, cost more than the packing).
    func pack(_ b: UnsafePointer<Float>) {
        BLAS.SharedPanels.pack(transposeB: transposeB, b: b, n: n, k: k, into: panels)
    }

    deinit { panels.deallocate() }
}
