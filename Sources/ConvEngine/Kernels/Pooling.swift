// Window pooling over NHWC activations.
//
// Dimension legend: N batch, H W input height and width, C channels, K window side, S stride,
// P padding, HO WO output height and width.

/// Max pooling; `argmax` receives, per output element, the flat input index that won (padding never
/// wins, as in PyTorch; of equal values the first in the window wins).
///
/// The first tap inside the image initialises an output pixel and later taps compare and select
/// without a branch, so the channel loop vectorises; images are split over `Parallel`'s threads.
func maxPoolForward(_ x: UnsafePointer<Float>, _ g: WindowGeometry, _ y: UnsafeMutablePointer<Float>,
                    _ argmax: UnsafeMutablePointer<Int32>) {
    let (H, W, C, K, S, P) = (g.height, g.width, g.channels, g.kernel, g.stride, g.padding)
    let HO = g.outputHeight, WO = g.outputWidth
    let slices = min(g.batch, Parallel.sliceCount(g.batch * H * W * C, grain: elementGrain))
    Parallel.forEachSlice(slices) { slice in
        for n in Parallel.range(slice, of: slices, count: g.batch) { for oy in 0..<HO { for ox in 0..<WO {
            let o = ((n * HO + oy) * WO + ox) * C
            let out = y + o, arg = argmax + o
            var first = true
            for ky in 0..<K {
                let iy = oy * S - P + ky
                if iy < 0 || iy >= H { continue }
                for kx in 0..<K {
                    let ix = ox * S - P + kx
                    if ix < 0 || ix >= W { continue }
                    // Indices fit in Int32 (MaxPool2D checks the input size), so wrapping adds are exact.
                    let base = ((n * H + iy) * W + ix) * C, xr = x + base, index = Int32(truncatingIfNeeded: base)
                    if first {
                        for c in 0..<C { out[c] = xr[c]; arg[c] = index &+ Int32(truncatingIfNeeded: c) }
                        first = false
                    } else {
                        // Every operand is loaded before the selects, so the loop has no branch.
                        for c in 0..<C {
                            let v = xr[c], best = out[c], winner = arg[c], better = v > best
                            out[c] = better ? v : best
                            arg[c] = better ? index &+ Int32(truncatingIfNeeded: c) : winner
                        }
                    }
                }
            }
        } } }
    }
}

/// Routes each output gradient to the input element that won the forward pass; overwrites dx.
func maxPoolBackward(_ dy: UnsafePointer<Float>, _ argmax: UnsafePointer<Int32>, outputCount: Int,
                     inputCount: Int, _ dx: UnsafeMutablePointer<Float>) {
    dx.update(repeating: 0, count: inputCount)
    for i in 0..<outputCount { dx[Int(argmax[i])] += dy[i] }
}

/// Average pooling; padded positions count in the divisor (PyTorch's `count_include_pad=True`).
func avgPoolForward(_ x: UnsafePointer<Float>, _ g: WindowGeometry, _ y: UnsafeMutablePointer<Float>) {
    let (N, H, W, C, K, S, P) = (g.batch, g.height, g.width, g.channels, g.kernel, g.stride, g.padding)
    let HO = g.outputHeight, WO = g.outputWidth, scale = 1 / Float(K * K)
    for n in 0..<N { for oy in 0..<HO { for ox in 0..<WO {
        let out = y + ((n * HO + oy) * WO + ox) * C
        out.update(repeating: 0, count: C)
        for ky in 0..<K {
            let iy = oy * S - P + ky
            if iy < 0 || iy >= H { continue }
            for kx in 0..<K {
                let ix = ox * S - P + kx
                if ix < 0 || ix >= W { continue }
                let xr = x + ((n * H + iy) * W + ix) * C
                for c in 0..<C { out[c] += xr[c] }
            }
        }
        for c in 0..<C { out[c] *= scale }
    } } }
}

/// Spreads each output gradient evenly over its window; overwrites dx.
func avgPoolBackward(_ dy: UnsafePointer<Float>, _ g: WindowGeometry, _ dx: UnsafeMutablePointer<Float>) {
    let (N, H, W, C, K, S, P) = (g.batch, g.height, g.width, g.channels, g.kernel, g.stride, g.padding)
    let HO = g.outputHeight, WO = g.outputWidth, scale = 1 / Float(K * K)
    dx.update(repeating: 0, count: N * H * W * C)
    for n in 0..<N { for oy in 0..<HO { for ox in 0..<WO {
        let d = dy + ((n * HO + oy) * WO + ox) * C
        for ky in 0..<K {
            let iy = oy * S - P + ky
            if iy < 0 || iy >= H { continue }
            for kx in 0..<K {
                let ix = ox * S - P + kx
                if ix < 0 || ix >= W { continue }
                let dxr = dx + ((n * H + iy) * W + ix) * C
                for c in 0..<C { dxr[c] += d[c] * scale }
            }
        }
    } } }
}

/// y[n, c] = mean over the H·W positions of x[n, ·, ·, c]; `spatial` is H·W.
func globalAvgPoolForward(_ x: UnsafePointer<Float>, batch N: Int, spatial HW: Int, channels C: Int,
                          _ y: UnsafeMutablePointer<Float>) {
    let scale = 1 / Float(HW)
    for n in 0..<N {
        let out = y + n * C
        out.update(repeating: 0, count: C)
        for p in 0..<HW { let xr = x + (n * HW + p) * C; for c in 0..<C { out[c] += xr[c] } }
        for c in 0..<C { out[c] *= scale }
    }
}

/// dx[n, p, c] = dy[n, c] / (H·W); overwrites dx.
func globalAvgPoolBackward(_ dy: UnsafePointer<Float>, batch N: Int, spatial HW: Int, channels C: Int,
                           _ dx: UnsafeMutablePointer<Float>) {
    let scale = 1 / Float(HW)
    for n in 0..<N {
        let d = dy + n * C
        for p in 0..<HW { let dxr = dx + (n * HW + p) * C; for c in 0..<C { dxr[c] = d[c] * scale } }
    }
}
