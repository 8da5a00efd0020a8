// Direct depthwise convolution over NHWC activations: each channel filtered by its own window.
//
// Dimension legend:
//   N batch, H W input height and width, C channels (consecutive in memory, the vectorised axis),
//   KH KW kernel side, S stride, P padding, HO WO output height and width.
// Filters are stored [KH, KW, C] so that one tap of every channel is a contiguous run of C floats.
// Window positions that fall into the padding are skipped outside the channel loop; the channel loop
// itself has no bounds checks and is vectorised by the compiler.

/// Floats of scratch `depthwiseForward` wants: each tap's weights tiled across an output row.
func depthwiseForwardScratch(_ g: WindowGeometry) -> Int {
    g.stride == 1 ? g.kernel * g.kernel * g.outputWidth * g.channels : 0
}

/// y[n, oy, ox, c] = bias[c] + Σ_{ky,kx} x[n, oy·S−P+ky, ox·S−P+kx, c] · w[ky, kx, c].
///
/// At stride 1 an output row and the input row a tap reads are both contiguous in (ox, c), so each
/// tap is one long multiply-add over the row against that tap's weights tiled across it (`scratch`,
/// `depthwiseForwardScratch(g)` floats); other strides take the per-pixel loop.
func depthwiseForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                      _ g: WindowGeometry, _ y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>?) {
    let (N, H, W, C, K, S, P) = (g.batch, g.height, g.width, g.channels, g.kernel, g.stride, g.padding)
    if S == 1, let tiled = scratch {
        tileWeights(w, g, into: tiled)
        let outputPixels = N * g.outputHeight * g.outputWidth
        if let bias { for p in 0..<outputPixels { (y + p * C).update(from: bias, count: C) } }
        else { y.update(repeating: 0, count: outputPixels * C) }
        forEachStride1TapRow(g) { output, input, weights, count in
            let o = y + output, xr = x + input, wr = tiled + weights
            for j in 0..<count { o[j] += xr[j] * wr[j] }
        }
        return
    }
    let HO = g.outputHeight, WO = g.outputWidth
    for n in 0..<N { for oy in 0..<HO { for ox in 0..<WO {
        let out = y + ((n * HO + oy) * WO + ox) * C
        if let bias { out.update(from: bias, count: C) } else { out.update(repeating: 0, count: C) }
        for ky in 0..<K {
            let iy = oy * S - P + ky
            if iy < 0 || iy >= H { continue }
            for kx in 0..<K {
                let ix = ox * S - P + kx
                if ix < 0 || ix >= W { continue }
                let xr = x + ((n * H + iy) * W + ix) * C, wr = w + (ky * K + kx) * C
                for c in 0..<C { out[c] += xr[c] * wr[c] }
            }
        }
    } } }
}

/// Fills `tiled` with each tap's weights repeated across an output row: `[K·K][WO·C]`.
private func tileWeights(_ w: UnsafePointer<Float>, _ g: WindowGeometry, into tiled: UnsafeMutablePointer<Float>) {
    let C = g.channels, row = g.outputWidth * C
    for tap in 0..<(g.kernel * g.kernel) {
        for ox in 0..<g.outputWidth { (tiled + tap * row + ox * C).update(from: w + tap * C, count: C) }
    }
}

/// At stride 1, calls `body(output, input, weights, count)` for every output row and every tap that
/// reads inside the image: `count` consecutive floats of the output row (from offset `output`) pair
/// with as many of the input row (from `input`) and of the tiled weights (from `weights`).
@inline(__always)
private func forEachStride1TapRow(_ g: WindowGeometry, _ body: (Int, Int, Int, Int) -> Void) {
    let (H, W, C, K, P) = (g.height, g.width, g.channels, g.kernel, g.padding)
    let HO = g.outputHeight, WO = g.outputWidth, row = WO * C
    for n in 0..<g.batch { for oy in 0..<HO {
        for ky in 0..<K {
            let iy = oy - P + ky
            if iy < 0 || iy >= H { continue }
            for kx in 0..<K {
                // Output columns whose input column ox − P + kx is inside the image.
                let first = max(0, P - kx), last = min(WO, W + P - kx)
                if first >= last { continue }
                body((n * HO + oy) * row + first * C, ((n * H + iy) * W + first - P + kx) * C,
                     (ky * K + kx) * row + first * C, (last - first) * C)
            }
        }
    } }
}

/// dx[n, iy, ix, c] = Σ over the outputs that read (iy, ix) of dy · w; overwrites dx.
///
/// At stride 1, with `scratch` (`depthwiseForwardScratch(g)` floats), each tap adds a whole output
/// row of dy, times the tiled weights, into the shifted input row in one contiguous loop.
func depthwiseBackwardInput(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                            _ g: WindowGeometry, _ dx: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>?) {
    let (N, H, W, C, K, S, P) = (g.batch, g.height, g.width, g.channels, g.kernel, g.stride, g.padding)
    let HO = g.outputHeight, WO = g.outputWidth
    dx.update(repeating: 0, count: N * H * W * C)
    if S == 1, let tiled = scratch {
        tileWeights(w, g, into: tiled)
        forEachStride1TapRow(g) { output, input, weights, count in
            let o = dx + input, dr = dy + output, wr = tiled + weights
            for j in 0..<count { o[j] += dr[j] * wr[j] }
        }
        return
    }
    for n in 0..<N { for oy in 0..<HO { for ox in 0..<WO {
        let d = dy + ((n * HO + oy) * WO + ox) * C
        for ky in 0..<K {
            let iy = oy * S - P + ky
            if iy < 0 || iy >= H { continue }
            for kx in 0..<K {
                let ix = ox * S - P + kx
                if ix < 0 || ix >= W { continue }
                let dxr = dx + ((n * H + iy) * W + ix) * C, wr = w + (ky * K + kx) * C
                for c in 0..<C { dxr[c] += d[c] * wr[c] }
            }
        }
    } } }
}

/// dw[ky, kx, c] += Σ dy · x over every output; dbias[c] += Σ dy. Accumulates.
func depthwiseBackwardWeight(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ g: WindowGeometry,
                             _ dw: UnsafeMutablePointer<Float>, _ dbias: UnsafeMutablePointer<Float>?) {
    let (N, H, W, C, K, S, P) = (g.batch, g.height, g.width, g.channels, g.kernel, g.stride, g.padding)
    let HO = g.outputHeight, WO = g.outputWidth
    for n in 0..<N { for oy in 0..<HO { for ox in 0..<WO {
        let d = dy + ((n * HO + oy) * WO + ox) * C
        if let dbias { for c in 0..<C { dbias[c] += d[c] } }
        for ky in 0..<K {
            let iy = oy * S - P + ky
            if iy < 0 || iy >= H { continue }
            for kx in 0..<K {
                let ix = ox * S - P + kx
                if ix < 0 || ix >= W { continue }
                let xr = x + ((n * H + iy) * W + ix) * C, dwr = dw + (ky * K + kx) * C
                for c in 0..<C { dwr[c] += d[c] * xr[c] }
            }
        }
    } } }
}
