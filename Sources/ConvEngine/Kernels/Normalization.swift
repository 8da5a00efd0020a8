// Batch normalisation over NHWC activations viewed as [M × C], M = N·H·W rows, statistics per channel.
// Per-channel sums run through `ChannelSums` (Float blocks folded into Double, in row slices).
//
// A following rectifier can be fused: `cap` is nil for none, +∞ for ReLU and 6 for ReLU6. The forward
// pass then clamps as it writes, and the backward pass masks dy where the clamp cut, so the ReLU's
// own passes over memory disappear.

/// mean[c] = Σ_r x[r, c] / M and variance[c] = Σ_r (x[r, c] − mean[c])² / M (biased), in one pass
/// over x. With a synchronizer the sums run over every process's rows (added across processes before
/// they are used), and M is the rows of all of them (every process holds the same number: a run
/// refuses a batch that does not divide by the processes).
///
/// The pass sums x − s and (x − s)² around a shift s per channel, the mean of `shiftSamples` rows
/// spread evenly over the batch: near the mean, so that Σ(x − s)²/M − (Σ(x − s)/M)² does not cancel
/// as Σx²/M − mean² would when the mean is large against the spread. Synchronized processes share the
/// average of their shifts.
func batchNormStatistics(
    _ x: UnsafePointer<Float>, rows M: Int, channels C: Int, sums: ChannelSums,
    mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>,
    synchronizer: BatchNormSynchronizer? = nil
) throws {
    let processes = synchronizer?.processCount ?? 1, rows = Double(M * processes)
    let shift = sums.total, samples = min(M, shiftSamples)
    shift.update(repeating: 0, count: C)
    for i in 0..<samples {
        let xr = x + (i * M / samples) * C
        for c in 0..<C { shift[c] += Double(xr[c]) }
    }
    try synchronizer?.sum(shift, count: C)
    for c in 0..<C { mean[c] = Float(shift[c] / Double(samples * processes)) }
    sums.sum(rows: M, ShiftedMoments(x: x, C: C, shift: mean))
    try synchronizer?.sum(sums.total, count: 2 * C)
    for c in 0..<C {
        let offset = sums.total[c] / rows
        variance[c] = Float(max(0, sums.total[C + c] / rows - offset * offset))
        mean[c] = Float(Double(mean[c]) + offset)
    }
}

/// Rows averaged for the shift of `batchNormStatistics`.
let shiftSamples = 32

/// Σ_r (x[r, c] − s[c]) and Σ_r (x[r, c] − s[c])².
private struct ShiftedMoments: RowSums {
    let x: UnsafePointer<Float>, C: Int, shift: UnsafePointer<Float>

    func add(rows: Range<Int>, _ sum: UnsafeMutablePointer<Float>, _ squares: UnsafeMutablePointer<Float>) {
        for r in rows {
            let xr = x + r * C
            for c in 0..<C {
                let d = xr[c] - shift[c]
                sum[c] += d
                squares[c] += d * d
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
        channelAffine(x, rows: rows, channels: C, scale: scale, shift: shift, cap: cap, y)
    }
}

/// y[r, c] = x[r, c]·scale[c] + shift[c] for the rows given, clamped to [0, cap] when `cap` is given,
/// on the calling thread; x may be y. The one expression of a batch norm's affine map, shared by its
/// own pass and by the depthwise kernel it is folded into in evaluation, so both give the same bits.
func channelAffine(
    _ x: UnsafePointer<Float>, rows: Range<Int>, channels C: Int,
    scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, cap: Float?, _ y: UnsafeMutablePointer<Float>
) {
    for r in rows {
        let xr = x + r * C, yr = y + r * C
        if let cap {
            for c in 0..<C { yr[c] = min(max(xr[c] * scale[c] + shift[c], 0), cap) }
        } else {
            for c in 0..<C { yr[c] = xr[c] * scale[c] + shift[c] }
        }
    }
}

/// Gradients of y = γ·(x − mean)·invstd + β (then clamped to [0, cap] when `cap` is given, in which
/// case dy counts only where 0 < y < cap), but for dx: accumulates dγ += Σ dy·x̂ and dβ += Σ dy in
/// one pass, and returns the input gradient as a map from (dy, x) rows to dx rows, to be written in
/// a pass of its own (`BatchNormInputGradient.write(allRows:to:)`) or, image by image, by the layer
/// that reads it (`DepthwiseOutputGradient`). `coefficients` is scratch for 3·C floats.
///
/// The rectifier's mask comes from x through the forward pass's `scale` and `shift` (y before the
/// clamp is x·scale + shift, computed as the forward pass did, so the mask is the same bit for bit)
/// rather than from the output: both passes then read two arrays instead of three.
///
/// dx = γ·invstd·(dy − Σdy/M − x̂·Σ(dy·x̂)/M) if the statistics came from this batch
/// (`batchStatistics`), or γ·invstd·dy if they were fixed running statistics. With a synchronizer
/// (statistics over every process's rows) the two sums of dx are added across processes and M counts
/// all rows; dγ and dβ keep this process's share, as every gradient does until the run averages them.
/// Without `inputGradient` only dγ and dβ are computed (and nothing is synchronized).
func batchNormGradientCoefficients(
    _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, rows M: Int, channels C: Int,
    cap: Float?, scale: UnsafePointer<Float>, shift: UnsafePointer<Float>,
    mean: UnsafePointer<Float>, invstd: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
    batchStatistics: Bool, sums: ChannelSums, coefficients: UnsafeMutablePointer<Float>,
    dgamma: UnsafeMutablePointer<Float>, dbeta: UnsafeMutablePointer<Float>,
    inputGradient: Bool = true, synchronizer: BatchNormSynchronizer? = nil
) throws -> BatchNormInputGradient {
    sums.sum(
        rows: M,
        GradientSums(dy: dy, x: x, C: C, cap: cap, scale: scale, shift: shift, mean: mean, invstd: invstd))
    let sumDy = sums.total, sumDyXhat = sums.total + C
    for c in 0..<C {
        dgamma[c] += Float(sumDyXhat[c])
        dbeta[c] += Float(sumDy[c])
    }
    // dx = a·dy' + k·x + b per channel, where dy' is the (masked) gradient.
    let a = coefficients, k = coefficients + C, b = coefficients + 2 * C
    let gradient = BatchNormInputGradient(
        dy: dy, x: x, channels: C, cap: cap, scale: scale, shift: shift, a: a, k: k, b: b)
    guard inputGradient else { return gradient }
    let synchronized = batchStatistics ? synchronizer : nil
    try synchronized?.sum(sums.total, count: 2 * C)
    let inverseM = 1 / Double(M * (synchronized?.processCount ?? 1))
    for c in 0..<C {
        a[c] = gamma[c] * invstd[c]
        k[c] = batchStatistics ? -a[c] * invstd[c] * Float(sumDyXhat[c] * inverseM) : 0
        b[c] = (batchStatistics ? -a[c] * Float(sumDy[c] * inverseM) : 0) - k[c] * mean[c]
    }
    return gradient
}

/// Σ_r dy'[r, c] and Σ_r dy'[r, c]·x̂[r, c], dy' being dy masked by the rectifier when one is fused.
private struct GradientSums: RowSums {
    let dy: UnsafePointer<Float>, x: UnsafePointer<Float>, C: Int, cap: Float?
    let scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, mean: UnsafePointer<Float>, invstd: UnsafePointer<Float>

    func add(rows: Range<Int>, _ sumDy: UnsafeMutablePointer<Float>, _ sumDyXhat: UnsafeMutablePointer<Float>) {
        for r in rows {
            let xr = x + r * C, d = dy + r * C
            if let cap {
                for c in 0..<C {
                    let v = xr[c] * scale[c] + shift[c], masked = (v > 0 && v < cap) ? d[c] : 0
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

/// A batch norm's input gradient as a map from rows: dx[r, c] = a[c]·dy'[r, c] + k[c]·x[r, c] + b[c],
/// dy' being dy masked where the fused rectifier clamped (from x·scale + shift). The one expression
/// of it, shared by the batch norm's own pass and by the depthwise layer before it that computes it
/// image by image, so both give the same bits. Valid until the batch norm's next pass.
struct BatchNormInputGradient {
    let dy: UnsafePointer<Float>, x: UnsafePointer<Float>, channels: Int, cap: Float?
    let scale: UnsafePointer<Float>, shift: UnsafePointer<Float>
    let a: UnsafePointer<Float>, k: UnsafePointer<Float>, b: UnsafePointer<Float>

    /// Writes dx for all rows `0..<M` in a pass over memory on `Parallel`'s threads.
    func write(allRows M: Int, to dx: UnsafeMutablePointer<Float>) {
        Parallel.forEachRange(count: M, grain: max(1, elementGrain / channels), InputGradient(gradient: self, dx: dx))
    }

    /// Writes dx for `rows` to `out` (which holds the first of them), on the calling thread.
    func write(rows: Range<Int>, to out: UnsafeMutablePointer<Float>) {
        let C = channels
        for r in rows {
            let xr = x + r * C, d = dy + r * C, o = out + (r - rows.lowerBound) * C
            if let cap {
                for c in 0..<C {
                    let v = xr[c] * scale[c] + shift[c], masked = (v > 0 && v < cap) ? d[c] : 0
                    o[c] = a[c] * masked + k[c] * xr[c] + b[c]
                }
            } else {
                for c in 0..<C { o[c] = a[c] * d[c] + k[c] * xr[c] + b[c] }
            }
        }
    }
}

/// A row slice of `BatchNormInputGradient.write(allRows:to:)`.
private struct InputGradient: RangeJob {
    let gradient: BatchNormInputGradient, dx: UnsafeMutablePointer<Float>

    func run(range rows: Range<Int>, slice: Int) {
        gradient.write(rows: rows, to: dx + rows.lowerBound * gradient.channels)
    }
}
