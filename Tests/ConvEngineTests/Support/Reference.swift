import ConvEngine

// Naive reference implementations in Double: plain loops straight from the definitions, NHWC.

/// Standard convolution; weight OHWI `[cout, k, k, cin]`.
func referenceConv(
    _ x: Tensor, weight: [Float], bias: [Float]?, outputChannels cout: Int,
    kernel k: Int, stride s: Int, padding p: Int
) -> (shape: [Int], values: [Double]) {
    let (n, h, w, cin) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1
    var y = [Double](repeating: 0, count: n * ho * wo * cout)
    for b in 0..<n {
        for oy in 0..<ho {
            for ox in 0..<wo {
                for o in 0..<cout {
                    var acc = Double(bias?[o] ?? 0)
                    for ky in 0..<k {
                        for kx in 0..<k {
                            let iy = oy * s - p + ky, ix = ox * s - p + kx
                            guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                            for i in 0..<cin {
                                acc +=
                                    Double(x.scalars[((b * h + iy) * w + ix) * cin + i])
                                    * Double(weight[((o * k + ky) * k + kx) * cin + i])
                            }
                        }
                    }
                    y[((b * ho + oy) * wo + ox) * cout + o] = acc
                }
            }
        }
    }
    return ([n, ho, wo, cout], y)
}

/// Standard convolution's gradients for output gradient `dy`; weight OHWI: (dx, dweight).
func referenceConvBackward(
    _ x: Tensor, weight: [Float], dy: Tensor, kernel k: Int, stride s: Int,
    padding p: Int
) -> (dx: [Double], dweight: [Double]) {
    let (n, h, w, cin) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (ho, wo, cout) = (dy.shape[1], dy.shape[2], dy.shape[3])
    var dx = [Double](repeating: 0, count: x.scalars.count), dweight = [Double](repeating: 0, count: weight.count)
    for b in 0..<n {
        for oy in 0..<ho {
            for ox in 0..<wo {
                for o in 0..<cout {
                    let g = Double(dy.scalars[((b * ho + oy) * wo + ox) * cout + o])
                    for ky in 0..<k {
                        for kx in 0..<k {
                            let iy = oy * s - p + ky, ix = ox * s - p + kx
                            guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                            for c in 0..<cin {
                                let xi = ((b * h + iy) * w + ix) * cin + c, wi = ((o * k + ky) * k + kx) * cin + c
                                dx[xi] += g * Double(weight[wi])
                                dweight[wi] += g * Double(x.scalars[xi])
                            }
                        }
                    }
                }
            }
        }
    }
    return (dx, dweight)
}

/// Depthwise convolution; weight `[k, k, C]`.
func referenceDepthwise(
    _ x: Tensor, weight: [Float], bias: [Float]?, kernel k: Int, stride s: Int,
    padding p: Int
) -> (shape: [Int], values: [Double]) {
    let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1
    var y = [Double](repeating: 0, count: n * ho * wo * c)
    for b in 0..<n {
        for oy in 0..<ho {
            for ox in 0..<wo {
                for ch in 0..<c {
                    var acc = Double(bias?[ch] ?? 0)
                    for ky in 0..<k {
                        for kx in 0..<k {
                            let iy = oy * s - p + ky, ix = ox * s - p + kx
                            guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                            acc += Double(x.scalars[((b * h + iy) * w + ix) * c + ch]) * Double(weight[(ky * k + kx) * c + ch])
                        }
                    }
                    y[((b * ho + oy) * wo + ox) * c + ch] = acc
                }
            }
        }
    }
    return ([n, ho, wo, c], y)
}

/// Depthwise convolution's gradients for output gradient `dy`: (dx, dweight `[k, k, C]`, dbias).
func referenceDepthwiseBackward(
    _ x: Tensor, weight: [Float], dy: Tensor, kernel k: Int, stride s: Int,
    padding p: Int
) -> (dx: [Double], dweight: [Double], dbias: [Double]) {
    let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let ho = dy.shape[1], wo = dy.shape[2]
    var dx = [Double](repeating: 0, count: x.scalars.count)
    var dweight = [Double](repeating: 0, count: k * k * c), dbias = [Double](repeating: 0, count: c)
    for b in 0..<n {
        for oy in 0..<ho {
            for ox in 0..<wo {
                for ch in 0..<c {
                    let g = Double(dy.scalars[((b * ho + oy) * wo + ox) * c + ch])
                    dbias[ch] += g
                    for ky in 0..<k {
                        for kx in 0..<k {
                            let iy = oy * s - p + ky, ix = ox * s - p + kx
                            guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                            let xi = ((b * h + iy) * w + ix) * c + ch, wi = (ky * k + kx) * c + ch
                            dx[xi] += g * Double(weight[wi])
                            dweight[wi] += g * Double(x.scalars[xi])
                        }
                    }
                }
            }
        }
    }
    return (dx, dweight, dbias)
}

/// Max or average pooling (average counts padded positions, as PyTorch's default).
func referencePool(_ x: Tensor, kernel k: Int, stride s: Int, padding p: Int, max isMax: Bool) -> (shape: [Int], values: [Double])
{
    let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1
    var y = [Double](repeating: 0, count: n * ho * wo * c)
    for b in 0..<n {
        for oy in 0..<ho {
            for ox in 0..<wo {
                for ch in 0..<c {
                    var acc = isMax ? -Double.infinity : 0
                    for ky in 0..<k {
                        for kx in 0..<k {
                            let iy = oy * s - p + ky, ix = ox * s - p + kx
                            guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                            let v = Double(x.scalars[((b * h + iy) * w + ix) * c + ch])
                            acc = isMax ? max(acc, v) : acc + v
                        }
                    }
                    y[((b * ho + oy) * wo + ox) * c + ch] = isMax ? acc : acc / Double(k * k)
                }
            }
        }
    }
    return ([n, ho, wo, c], y)
}

/// y = x · Wᵀ + b for x `[N, in]`, W `[out, in]`.
func referenceLinear(_ x: Tensor, weight: [Float], bias: [Float]?, outputs: Int) -> [Double] {
    let n = x.shape[0], f = x.shape[1]
    var y = [Double](repeating: 0, count: n * outputs)
    for b in 0..<n {
        for o in 0..<outputs {
            var acc = Double(bias?[o] ?? 0)
            for i in 0..<f { acc += Double(x.scalars[b * f + i]) * Double(weight[o * f + i]) }
            y[b * outputs + o] = acc
        }
    }
    return y
}

/// Training-mode batch norm over the innermost axis, biased variance.
func referenceBatchNorm(_ x: Tensor, gamma: [Float], beta: [Float], epsilon: Double) -> (
    y: [Double], mean: [Double], variance: [Double]
) {
    let c = x.shape.channels, m = x.shape.count / c
    var mean = [Double](repeating: 0, count: c), variance = [Double](repeating: 0, count: c)
    for r in 0..<m { for ch in 0..<c { mean[ch] += Double(x.scalars[r * c + ch]) / Double(m) } }
    for r in 0..<m {
        for ch in 0..<c {
            let d = Double(x.scalars[r * c + ch]) - mean[ch]
            variance[ch] += d * d / Double(m)
        }
    }
    var y = [Double](repeating: 0, count: x.shape.count)
    for r in 0..<m {
        for ch in 0..<c {
            y[r * c + ch] =
                (Double(x.scalars[r * c + ch]) - mean[ch]) / (variance[ch] + epsilon).squareRoot()
                * Double(gamma[ch]) + Double(beta[ch])
        }
    }
    return (y, mean, variance)
}

/// The input gradient of max pooling: each output's dy goes to the first maximum of its window
/// (window order: rows, then columns; padding never wins).
func referenceMaxPoolBackward(_ x: Tensor, dy: Tensor, kernel k: Int, stride s: Int, padding p: Int) -> [Double] {
    let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1
    var dx = [Double](repeating: 0, count: x.scalars.count)
    for b in 0..<n {
        for oy in 0..<ho {
            for ox in 0..<wo {
                for ch in 0..<c {
                    var best = -Float.infinity, winner = -1
                    for ky in 0..<k {
                        for kx in 0..<k {
                            let iy = oy * s - p + ky, ix = ox * s - p + kx
                            guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                            let index = ((b * h + iy) * w + ix) * c + ch
                            if winner < 0 || x.scalars[index] > best { (best, winner) = (x.scalars[index], index) }
                        }
                    }
                    dx[winner] += Double(dy.scalars[((b * ho + oy) * wo + ox) * c + ch])
                }
            }
        }
    }
    return dx
}
