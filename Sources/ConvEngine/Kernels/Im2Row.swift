// Lowering of a standard convolution over NHWC activations to one matrix product.
//
// Dimension legend:
//   N batch, H W input height and width, C input channels,
//   KH KW kernel height and width, S stride, P padding (same on every side),
//   HO WO output height and width, K = KH·KW·C (one row of the column matrix, ordered (ky, kx, c)).
// The column matrix is [N·HO·WO × K], row-major; its row for output pixel (n, oy, ox) holds the
// receptive field with zeros where it falls into the padding.

/// Writes the column matrix of `x` for rows of images `[first, first + count)` into `col`.
func im2row(_ x: UnsafePointer<Float>, _ g: WindowGeometry, images first: Int, count: Int,
            into col: UnsafeMutablePointer<Float>) {
    let (H, W, C, KH, S, P) = (g.height, g.width, g.channels, g.kernel, g.stride, g.padding)
    let KW = KH, HO = g.outputHeight, WO = g.outputWidth, K = KH * KW * C
    for n in 0..<count {
        let image = x + (first + n) * H * W * C
        for oy in 0..<HO { for ox in 0..<WO {
            var row = col + ((n * HO + oy) * WO + ox) * K
            for ky in 0..<KH {
                let iy = oy * S - P + ky
                if iy < 0 || iy >= H { row.update(repeating: 0, count: KW * C); row += KW * C; continue }
                for kx in 0..<KW {
                    let ix = ox * S - P + kx
                    if ix < 0 || ix >= W { row.update(repeating: 0, count: C) }
                    else if C < 16 {
                        // A few channels (the RGB input): a plain loop beats a memcpy call per tap.
                        let src = image + (iy * W + ix) * C
                        for c in 0..<C { row[c] = src[c] }
                    } else { row.update(from: image + (iy * W + ix) * C, count: C) }
                    row += C
                }
            }
        } }
    }
}

/// Accumulates the column-matrix gradient `dcol` back into `dx` for images `[first, first + count)`:
/// the adjoint of `im2row`. `dx` must already hold zeros (or a gradient to add to).
func row2im(_ dcol: UnsafePointer<Float>, _ g: WindowGeometry, images first: Int, count: Int,
            into dx: UnsafeMutablePointer<Float>) {
    let (H, W, C, KH, S, P) = (g.height, g.width, g.channels, g.kernel, g.stride, g.padding)
    let KW = KH, HO = g.outputHeight, WO = g.outputWidth, K = KH * KW * C
    for n in 0..<count {
        let image = dx + (first + n) * H * W * C
        for oy in 0..<HO { for ox in 0..<WO {
            let row = dcol + ((n * HO + oy) * WO + ox) * K
            for ky in 0..<KH {
                let iy = oy * S - P + ky
                if iy < 0 || iy >= H { continue }
                for kx in 0..<KW {
                    let ix = ox * S - P + kx
                    if ix < 0 || ix >= W { continue }
                    let src = row + (ky * KW + kx) * C, dst = image + (iy * W + ix) * C
                    for c in 0..<C { dst[c] += src[c] }
                }
            }
        } }
    }
}
