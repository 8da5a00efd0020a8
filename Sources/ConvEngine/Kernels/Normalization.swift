// Batch normalisation over NHWC activations viewed as [M × C], M = N·H·W rows, statistics per channel.
// Per-channel sums run through `ChannelSums` (Float blocks folded into Double, in row slices).
//
// A following rectifier can be fused: `cap` is nil for none, +∞ for ReLU and 6 for ReLU6. The forward
// pass then clamps as it writes, and the backward pass masks dy by the clamped output, so the ReLU's
// own passes over memory disappear.

/// mean[c] = Σ_r x[r, c] / M and variance[c] = Σ_r (x[r, c] − mean[c])² / M (biased). With a
/// synchronizer the sums run over every process's rows (each sum added across processes before it
/// is used), and M is the rows of all of them.
func batchNormStatistics(
    _ x: UnsafePointer<Float>, rows M: Int, channels C: Int, sums: ChannelSums,
    mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>,
    synchronizer: BatchNormSynchronizer? = nil
) throws {
    let rows = Double(M * (synchronizer?.processCount ?? 1))
    sums.sum(rows: M, Values(x: x, C: C))
    try synchronizer?.sum(sums.total, count: C)
    for c in 0..<C { mean[c] = Float(sums.total[c] / rows) }
    sums.sum(rows: M, SquaredDeviations(x: x, C: C, mean: mean))
    try synchronizer?.sum(sums.total, count: C)
    for c in 0..<C { variance[c] = Float(sums.total[c] / rows) }
}

/// Σ_r x[r, c].
private struct Values: RowSums {
    let x: UnsafePointer<Float>, C: Int

    func add(rows: Range<Int>, _ sum: UnsafeMutablePointer<Float>, _: UnsafeMutablePointer<Float>) {
        for r in rows {
            let xr = x + r * C
            for c in 0..<C { sum[c] += xr[c] }
        }
    }
}

/// Σ_r (x[r, c] − mean[c])².
private struct SquaredDeviations: RowSums {
    let x: UnsafePointer<Float>, C: Int, mean: UnsafePointer<Float>

    func add(rows: Range<Int>, _ sum: UnsafeMutablePointer<Float>, _: UnsafeMutablePointer<Float>) {
        for r in rows {
            let xr = x + r * C
            for c in 0..<C {
                let d = xr[c] - mean[c]
                sum[c] += d * d
            }
        }
    }
}

/// y[r, c] = x[r, c] · scale[c] + shift[c], clamped to [0, cap] when a rectifier is fused.
func batchNormApply(
    _ x: UnsafePointer<Float>, rows M: Int, channels C: Int,
    scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, cap: Float?, _ y: UnsafeMutablePointer<Float>
) {
    Parallel.forEachRange(
        count: M, grain: max(1, elementGrain / C),
        BatchNormApply(x: x, C: C, scale: scale, shift: shift, cap: cap, y: y))
}

private struct BatchNormApply: RangeJob {
    let x: UnsafePointer<Float>, C: Int, scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, cap: Float?
    let y: UnsafeMutablePointer<Float>

    func run(range rows: Range<Int>, slice: Int) {
        for r in rows {
            let xr = x + r * C, yr = y + r * C
            if let cap {
                for c in 0..<C { yr[c] = min(max(xr[c] * scale[c] + shift[c], 0), cap) }
            } else {
                for c in 0..<C { yr[c] = xr[c] * scale[c] + shift[c] }
            }
        }
    }
}

/// Gradients of y = γ·(x − mean)·invstd + β (then clamped to [0, cap] when `cap` is given, in which
/// case `y` is that clamped output and dy counts only where 0 < y < cap). `coefficients` is scratch
/// for 3·C floats.
///
/// Accumulates dγ += Σ dy·x̂ and dβ += Σ dy. When `dx` is given it is overwritten with
/// γ·invstd·(dy − Σdy/M − x̂·Σ(dy·x̂)/M) if the statistics came from this batch (`batchStatistics`),
/// or with γ·invstd·dy if they were fixed running statistics. With a synchronizer (statistics over
/// every process's rows) the two sums of dx are added across processes and M counts all rows; dγ
/// and dβ keep this process's share, as every gradient does until the run averages them.
func batchNormBackward(
    _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
    rows M: Int, channels C: Int, cap: Float?,
    mean: UnsafePointer<Float>, invstd: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
    batchStatistics: Bool, sums: ChannelSums, coefficients: UnsafeMutablePointer<Float>,
    dgamma: UnsafeMutablePointer<Float>, dbeta: UnsafeMutablePointer<Float>,
    _ dx: UnsafeMutablePointer<Float>?, synchronizer: BatchNormSynchronizer? = nil
) throws {
    sums.sum(rows: M, GradientSums(dy: dy, x: x, y: y, C: C, cap: cap, mean: mean, invstd: invstd))
    let sumDy = sums.total, sumDyXhat = sums.total + C
    for c in 0..<C {
        dgamma[c] += Float(sumDyXhat[c])
        dbeta[c] += Float(sumDy[c])
    }
    guard let dx else { return }
    let synchronized = batchStatistics ? synchronizer : nil
    try synchronized?.sum(sums.total, count: 2 * C)
    // dx = a·dy' + k·x + b per channel, where dy' is the (masked) gradient.
    let a = coefficients, k = coefficients + C, b = coefficients + 2 * C
    let inverseM = 1 / Double(M * (synchronized?.processCount ?? 1))
    for c in 0..<C {
        a[c] = gamma[c] * invstd[c]
        k[c] = batchStatistics ? -a[c] * invstd[c] * Float(sumDyXhat[c] * inverseM) : 0
        b[c] = (batchStatistics ? -a[c] * Float(sumDy[c] * inverseM) : 0) - k[c] * mean[c]
    }
    Parallel.forEachRange(
        count: M, grain: max(1, elementGrain / C),
        InputGradient(dy: dy, x: x, y: y, C: C, cap: cap, a: a, k: k, b: b, dx: dx))
}

/// Σ_r dy'[r, c] and Σ_r dy'[r, c]·x̂[r, c], dy' being dy masked by the rectifier when one is fused.
private struct GradientSums: RowSums {
    let dy: UnsafePointer<Float>, x: UnsafePointer<Float>, y: UnsafePointer<Float>, C: Int, cap: Float?
    let mean: UnsafePointer<Float>, invstd: UnsafePointer<Float>

    func add(rows: Range<Int>, _ sumDy: UnsafeMutablePointer<Float>, _ sumDyXhat: UnsafeMutablePointer<Float>) {
        for r in rows {
            let xr = x + r * C, d = dy + r * C, yr = y + r * C
            if let cap {
                for c in 0..<C {
                    let g = d[c], v = yr[c], masked = (v > 0 && v < cap) ? g : 0
                    sumDy[c] += masked
                    sumDyXhat[c] += masked * (xr[c] - mean[c]) * invstd[c]
                }
            } else {
                for c in 0..<C {
                    sumDy[c] += d[c]
                    sumDyXhat[c] += d[c] * (xr[c] - mean[c]) * invstd[c]
                }
            }
        }
    }
}

/// dx[r, c] = a[c]·dy'[r, c] + k[c]·x[r, c] + b[c].
private struct InputGradient: RangeJob {
    let dy: UnsafePointer<Float>, x: UnsafePointer<Float>, y: UnsafePointer<Float>, C: Int, cap: Float?
    let a: UnsafePointer<Float>, k: UnsafePointer<Float>, b: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>

    func run(range rows: Range<Int>, slice: Int) {
        for r in rows {
            let xr = x + r * C, d = dy + r * C, yr = y + r * C, o = dx + r * C
            if let cap {
                for c in 0..<C {
                    let g = d[c], v = yr[c], masked = (v > 0 && v < cap) ? g : 0
                    o[c] = a[c] * masked + k[c] * xr[c] + b[c]
                }
            } else {
                for c in 0..<C { o[c] = a[c] * d[c] + k[c] * xr[c] + b[c] }
            }
        }
    }
}
