// Window pooling over NHWC activations.
//
// Dimension legend: N batch, H W input height and width, C channels, K window side, S stride,
// P padding, HO WO output height and width.

/// Max pooling; `argmax` receives, per output element, the flat input index that won (padding never
/// wins, as in PyTorch).
func maxPoolForward(_ x: UnsafePointer<Float>, _ g: WindowGeometry, _ y: UnsafeMutablePointer<Float>,
                    _ argmax: UnsafeMutablePointer<Int32>) {
    let (N, H, W, C, K, S, P) = (g.batch, g.height, g.width, g.channels, g.kernel, g.stride, g.padding)
    let HO = g.outputHeight, WO = g.outputWidth
    for n in 0..<N { for oy in 0..<HO { for ox in 0..<WO {
        let o = ((n * HO + oy) * WO + ox) * C
        let out = y + o, arg = argmax + o
        out.update(repeating: -.infinity, count: C)
        arg.update(repeating: -1, count: C)
        for ky in 0..<K {
            let iy = oy * S - P + ky
            if iy < 0 || iy >= H { continue }
            for kx in 0..<K {
                let ix = ox * S - P + kx
                if ix < 0 || ix >= W { continue }
                let base = ((n * H + iy) * W + ix) * C
                for c in 0..<C where x[base + c] > out[c] || arg[c] < 0 {
                    out[c] = x[base + c]
                    arg[c] = Int32(base + c)
                }
            }
        }
    } } }
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
