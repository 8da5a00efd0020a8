// Batch normalisation over NHWC activations viewed as [M × C], M = N·H·W rows, statistics per channel.
// Sums run in Float over blocks of `sumBlock` rows (so the channel loops vectorise at full width) and
// each block is folded into Double, so large batches do not drift.

/// Rows summed in Float before folding into Double.
let sumBlock = 32

/// mean[c] = Σ_r x[r, c] / M and variance[c] = Σ_r (x[r, c] − mean[c])² / M (biased).
/// `partial` is scratch for C floats.
func batchNormStatistics(_ x: UnsafePointer<Float>, rows M: Int, channels C: Int,
                         sum: UnsafeMutablePointer<Double>, partial: UnsafeMutablePointer<Float>,
                         mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>) {
    sum.update(repeating: 0, count: C)
    var start = 0
    while start < M {
        let end = min(start + sumBlock, M)
        partial.update(repeating: 0, count: C)
        for r in start..<end { let xr = x + r * C; for c in 0..<C { partial[c] += xr[c] } }
        for c in 0..<C { sum[c] += Double(partial[c]) }
        start = end
    }
    for c in 0..<C { mean[c] = Float(sum[c] / Double(M)) }
    sum.update(repeating: 0, count: C)
    start = 0
    while start < M {
        let end = min(start + sumBlock, M)
        partial.update(repeating: 0, count: C)
        for r in start..<end {
            let xr = x + r * C
            for c in 0..<C { let d = xr[c] - mean[c]; partial[c] += d * d }
        }
        for c in 0..<C { sum[c] += Double(partial[c]) }
        start = end
    }
    for c in 0..<C { variance[c] = Float(sum[c] / Double(M)) }
}

/// y[r, c] = x[r, c] · scale[c] + shift[c].
func batchNormApply(_ x: UnsafePointer<Float>, rows M: Int, channels C: Int,
                    scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    for r in 0..<M {
        let xr = x + r * C, yr = y + r * C
        for c in 0..<C { yr[c] = xr[c] * scale[c] + shift[c] }
    }
}

/// Gradients of y = γ·(x − mean)·invstd + β. `partial` is scratch for 2·C floats.
///
/// Accumulates dγ += Σ dy·x̂ and dβ += Σ dy. When `dx` is given it is overwritten with
/// γ·invstd·(dy − Σdy/M − x̂·Σ(dy·x̂)/M) if the statistics came from this batch (`batchStatistics`),
/// or with γ·invstd·dy if they were fixed running statistics.
func batchNormBackward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, rows M: Int, channels C: Int,
                       mean: UnsafePointer<Float>, invstd: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
                       batchStatistics: Bool, sumDy: UnsafeMutablePointer<Double>,
                       sumDyXhat: UnsafeMutablePointer<Double>, partial: UnsafeMutablePointer<Float>,
                       dgamma: UnsafeMutablePointer<Float>, dbeta: UnsafeMutablePointer<Float>,
                       _ dx: UnsafeMutablePointer<Float>?) {
    sumDy.update(repeating: 0, count: C)
    sumDyXhat.update(repeating: 0, count: C)
    let partialDy = partial, partialDyXhat = partial + C
    var start = 0
    while start < M {
        let end = min(start + sumBlock, M)
        partialDy.update(repeating: 0, count: 2 * C)
        for r in start..<end {
            let xr = x + r * C, d = dy + r * C
            for c in 0..<C {
                partialDy[c] += d[c]
                partialDyXhat[c] += d[c] * (xr[c] - mean[c]) * invstd[c]
            }
        }
        for c in 0..<C {
            sumDy[c] += Double(partialDy[c])
            sumDyXhat[c] += Double(partialDyXhat[c])
        }
        start = end
    }
    for c in 0..<C {
        dgamma[c] += Float(sumDyXhat[c])
        dbeta[c] += Float(sumDy[c])
    }
    guard let dx else { return }
    if !batchStatistics {
        for r in 0..<M {
            let d = dy + r * C, o = dx + r * C
            for c in 0..<C { o[c] = d[c] * gamma[c] * invstd[c] }
        }
        return
    }
    let inverseM = 1 / Double(M)
    for r in 0..<M {
        let xr = x + r * C, d = dy + r * C, o = dx + r * C
        for c in 0..<C {
            let xhat = (xr[c] - mean[c]) * invstd[c]
            let meanDy = Float(sumDy[c] * inverseM), meanDyXhat = Float(sumDyXhat[c] * inverseM)
            o[c] = gamma[c] * invstd[c] * (d[c] - meanDy - xhat * meanDyXhat)
        }
    }
}
