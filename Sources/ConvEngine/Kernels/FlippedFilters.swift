// The input gradient of a stride-1 convolution as a convolution of dy.
//
// Dimension legend:
//   C input channels, O output channels, K kernel side, P padding, HO WO output height and width.
// At stride 1, dx[iy, ix, c] = Σ dy[oy, ox, o] · w[o, iy − oy + P, ix − ox + P, c] is the convolution
// of dy (HO × WO × O, padding K − 1 − P) with the flipped filters W̃[c, ky, kx, o] =
// w[o, K−1−ky, K−1−kx, c]. The column path (`ColumnConv.swift`) and the direct kernels
// (`DirectConv.swift`) compute dx that way with these filters; Winograd (`WinogradConv.swift`) flips
// the taps as it transforms them.

extension WindowGeometry {
    /// The window over dy, `[N, HO, WO, outputChannels]`, whose convolution with the flipped filters
    /// is dx: stride 1, padding K − 1 − P, output H × W. Meaningful for stride-1 windows only.
    func inputGradientWindow(outputChannels O: Int) -> WindowGeometry {
        var t = self
        (t.height, t.width, t.channels, t.padding) = (outputHeight, outputWidth, O, kernel - 1 - padding)
        return t
    }
}

/// Writes the flipped filters of a K×K convolution over `g` (weights w `[O, K, K, C]`, OHWI): as
/// the OHWI weights of the convolution of dy, `[C][K·K·O]`, or `transposed`, `[K·K·O][C]` (the
/// layout the direct kernels read).
func flipFilters(
    _ w: UnsafePointer<Float>, _ g: WindowGeometry, outputChannels O: Int, transposed: Bool,
    into flipped: UnsafeMutablePointer<Float>
) {
    let K = g.kernel, C = g.channels, taps = K * K * O
    for c in 0..<C {
        for ky in 0..<K {
            for kx in 0..<K {
                for o in 0..<O {
                    let tap = (ky * K + kx) * O + o
                    flipped[transposed ? tap * C + c : c * taps + tap] = w[((o * K + (K - 1 - ky)) * K + (K - 1 - kx)) * C + c]
                }
            }
        }
    }
}
