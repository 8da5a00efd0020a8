// Window pooling over NHWC activations.
//
// Dimension legend: N batch, H W input height and width, C channels, K window side, S stride,
// P padding, HO WO output height and width.

/// Max pooling; `argmax` receives, per output element, the flat input index that won (padding never
/// wins, as in PyTorch; of equal values the first in the window wins).
///
/// Each output pixel's window is clipped to the image first, so the tap loops have no bounds checks;
/// eight channels at a time keep their running maximum and winner in registers across the taps (a
/// compare and two selects per tap, no branch) and are stored once. Images are split over
/// `Parallel`'s threads.
func maxPoolForward(
    _ x: UnsafePointer<Float>, _ g: WindowGeometry, _ y: UnsafeMutablePointer<Float>,
    _ argmax: UnsafeMutablePointer<Int32>
) {
    Parallel.forEachRange(of: g.batch, slices: poolingSlices(g), MaxPoolForward(x: x, g: g, y: y, argmax: argmax))
}

private struct MaxPoolForward: RangeJob {
    let x: UnsafePointer<Float>, g: WindowGeometry, y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>

    func run(range images: Range<Int>, slice: Int) {
        let (H, W, C, S, P) = (g.height, g.width, g.channels, g.stride, g.padding)
        let HO = g.outputHeight, WO = g.outputWidth, vectorized = C / 8 * 8
        let lanes = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
        for n in images {
            for oy in 0..<HO {
                for ox in 0..<WO {
                    let o = ((n * HO + oy) * WO + ox) * C
                    let out = y + o, arg = argmax + o
                    // The window clipped to the image (never empty).
                    let rows = g.tapRows(atOutputRow: oy), columns = g.tapColumns(atOutputColumn: ox)
                    let (ky0, kx0) = (rows.lowerBound, columns.lowerBound)
                    // Indices fit in Int32 (MaxPool2D checks the input size), so wrapping adds are exact.
                    func base(_ ky: Int, _ kx: Int) -> Int { ((n * H + oy * S - P + ky) * W + ox * S - P + kx) * C }
                    let first = base(ky0, kx0)
                    var c = 0
                    while c < vectorized {
                        var best = UnsafeRawPointer(x + first + c).loadUnaligned(as: SIMD8<Float>.self)
                        var winner = lanes &+ Int32(truncatingIfNeeded: first + c)
                        for ky in rows {
                            for kx in columns where ky != ky0 || kx != kx0 {
                                let index = base(ky, kx) + c
                                let v = UnsafeRawPointer(x + index).loadUnaligned(as: SIMD8<Float>.self)
                                let better = v .> best
                                best.replace(with: v, where: better)
                                winner.replace(with: lanes &+ Int32(truncatingIfNeeded: index), where: better)
                            }
                        }
                        UnsafeMutableRawPointer(out + c).storeBytes(of: best, as: SIMD8<Float>.self)
                        UnsafeMutableRawPointer(arg + c).storeBytes(of: winner, as: SIMD8<Int32>.self)
                        c += 8
                    }
                    for c in vectorized..<C {
                        var best = x[first + c], winner = Int32(truncatingIfNeeded: first + c)
                        for ky in rows {
                            for kx in columns {
                                let index = base(ky, kx) + c, v = x[index]
                                if v > best {
                                    best = v
                                    winner = Int32(truncatingIfNeeded: index)
                                }
                            }
                        }
                        out[c] = best
                        arg[c] = winner
                    }
                }
            }
        }
    }
}

/// Routes each output gradient to the input element that won the forward pass; overwrites dx.
/// A window never leaves its image, so images are split over `Parallel`'s threads like the forward.
func maxPoolBackward(
    _ dy: UnsafePointer<Float>, _ argmax: UnsafePointer<Int32>, _ g: WindowGeometry,
    _ dx: UnsafeMutablePointer<Float>
) {
    Parallel.forEachRange(of: g.batch, slices: poolingSlices(g), MaxPoolBackward(dy: dy, argmax: argmax, g: g, dx: dx))
}

private struct MaxPoolBackward: RangeJob {
    let dy: UnsafePointer<Float>, argmax: UnsafePointer<Int32>, g: WindowGeometry, dx: UnsafeMutablePointer<Float>

    func run(range images: Range<Int>, slice: Int) {
        let inputFloats = g.height * g.width * g.channels, outputFloats = g.outputHeight * g.outputWidth * g.channels
        (dx + images.lowerBound * inputFloats).update(repeating: 0, count: images.count * inputFloats)
        for i in (images.lowerBound * outputFloats)..<(images.upperBound * outputFloats) { dx[Int(argmax[i])] += dy[i] }
    }
}

/// Image slices of a pooling pass over `g`: split over the threads when the input is large enough.
private func poolingSlices(_ g: WindowGeometry) -> Int {
    Parallel.itemSliceCount(g.batch, workPerItem: g.height * g.width * g.channels, grain: elementGrain)
}

/// Average pooling; padded positions count in the divisor (PyTorch's `count_include_pad=True`).
func avgPoolForward(_ x: UnsafePointer<Float>, _ g: WindowGeometry, _ y: UnsafeMutablePointer<Float>) {
    let (N, H, W, C, K, S, P) = (g.batch, g.height, g.width, g.channels, g.kernel, g.stride, g.padding)
    let HO = g.outputHeight, WO = g.outputWidth, scale = 1 / Float(K * K)
    for n in 0..<N {
        for oy in 0..<HO {
            for ox in 0..<WO {
                let out = y + ((n * HO + oy) * WO + ox) * C
                out.update(repeating: 0, count: C)
                for ky in g.tapRows(atOutputRow: oy) {
                    for kx in g.tapColumns(atOutputColumn: ox) {
                        let xr = x + ((n * H + oy * S - P + ky) * W + ox * S - P + kx) * C
                        for c in 0..<C { out[c] += xr[c] }
                    }
                }
                for c in 0..<C { out[c] *= scale }
            }
        }
    }
}

/// Spreads each output gradient evenly over its window; overwrites dx.
func avgPoolBackward(_ dy: UnsafePointer<Float>, _ g: WindowGeometry, _ dx: UnsafeMutablePointer<Float>) {
    let (N, H, W, C, K, S, P) = (g.batch, g.height, g.width, g.channels, g.kernel, g.stride, g.padding)
    let HO = g.outputHeight, WO = g.outputWidth, scale = 1 / Float(K * K)
    dx.update(repeating: 0, count: N * H * W * C)
    for n in 0..<N {
        for oy in 0..<HO {
            for ox in 0..<WO {
                let d = dy + ((n * HO + oy) * WO + ox) * C
                for ky in g.tapRows(atOutputRow: oy) {
                    for kx in g.tapColumns(atOutputColumn: ox) {
                        let dxr = dx + ((n * H + oy * S - P + ky) * W + ox * S - P + kx) * C
                        for c in 0..<C { dxr[c] += d[c] * scale }
                    }
                }
            }
        }
    }
}

/// y[n, c] = mean over the H·W positions of x[n, ·, ·, c]; `spatial` is H·W.
func globalAvgPoolForward(
    _ x: UnsafePointer<Float>, batch N: Int, spatial HW: Int, channels C: Int,
    _ y: UnsafeMutablePointer<Float>
) {
    let scale = 1 / Float(HW)
    for n in 0..<N {
        let out = y + n * C
        out.update(repeating: 0, count: C)
        for p in 0..<HW {
            let xr = x + (n * HW + p) * C
            for c in 0..<C { out[c] += xr[c] }
        }
        for c in 0..<C { out[c] *= scale }
    }
}

/// dx[n, p, c] = dy[n, c] / (H·W); overwrites dx.
func globalAvgPoolBackward(
    _ dy: UnsafePointer<Float>, batch N: Int, spatial HW: Int, channels C: Int,
    _ dx: UnsafeMutablePointer<Float>
) {
    let scale = 1 / Float(HW)
    for n in 0..<N {
        let d = dy + n * C
        for p in 0..<HW {
            let dxr = dx + (n * HW + p) * C
            for c in 0..<C { dxr[c] = d[c] * scale }
        }
    }
}
