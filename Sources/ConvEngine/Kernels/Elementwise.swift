// Memory-bound passes over activations viewed as a matrix [rows × C] (rows = N·H·W for NHWC).
// The ReLU passes are cut into ranges of at least `elementGrain` floats run on `Parallel`'s threads.

/// Floats below which an element-wise pass is not worth splitting over threads (~10 µs of work).
let elementGrain = 1 << 15

/// y = max(x, 0), or min(max(x, 0), cap) when `cap` is given. `x` and `y` may be the same memory.
func reluForward(_ x: UnsafePointer<Float>, count: Int, cap: Float?, _ y: UnsafeMutablePointer<Float>) {
    Parallel.forEachRange(count: count, grain: elementGrain, ReLUForward(x: x, cap: cap, y: y))
}

private struct ReLUForward: RangeJob {
    let x: UnsafePointer<Float>, cap: Float?, y: UnsafeMutablePointer<Float>

    func run(range: Range<Int>, slice: Int) {
        if let cap { for i in range { y[i] = min(max(x[i], 0), cap) } } else { for i in range { y[i] = max(x[i], 0) } }
    }
}

/// dx = dy where the forward output was strictly inside (0, cap), else 0; reads the forward output `y`.
///
/// Both operands are loaded before the select, so the loop has no branch and vectorises: with the
/// load inside the condition it compiled to a branch that mispredicts on random signs.
func reluBackward(
    _ dy: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int, cap: Float?,
    _ dx: UnsafeMutablePointer<Float>
) {
    Parallel.forEachRange(count: count, grain: elementGrain, ReLUBackward(dy: dy, y: y, cap: cap, dx: dx))
}

private struct ReLUBackward: RangeJob {
    let dy: UnsafePointer<Float>, y: UnsafePointer<Float>, cap: Float?, dx: UnsafeMutablePointer<Float>

    func run(range: Range<Int>, slice: Int) {
        if let cap {
            for i in range {
                let g = dy[i], v = y[i]
                dx[i] = (v > 0 && v < cap) ? g : 0
            }
        } else {
            for i in range {
                let g = dy[i]
                dx[i] = y[i] > 0 ? g : 0
            }
        }
    }
}

/// y[r, c] = y[r, c] + bias[c] (when a bias is given), clamped to [0, cap] (when a cap is given: +∞
/// for ReLU); one pass over y in row ranges on `Parallel`'s threads. A convolution's epilogue.
func biasRectifyForward(
    _ bias: UnsafePointer<Float>?, rows: Int, channels C: Int, cap: Float?,
    _ y: UnsafeMutablePointer<Float>
) {
    guard bias != nil || cap != nil else { return }
    Parallel.forEachRange(count: rows, grain: max(1, elementGrain / C), BiasRectifyForward(bias: bias, C: C, cap: cap, y: y))
}

private struct BiasRectifyForward: RangeJob {
    let bias: UnsafePointer<Float>?, C: Int, cap: Float?, y: UnsafeMutablePointer<Float>

    func run(range: Range<Int>, slice: Int) { biasRectify(bias, rows: range, channels: C, cap: cap, y) }
}

/// `biasRectifyForward` for the rows given, on the calling thread: the one expression of the
/// epilogue, shared with the products that apply it band by band (`GemmEpilogue`).
func biasRectify(
    _ bias: UnsafePointer<Float>?, rows: Range<Int>, channels C: Int, cap: Float?, _ y: UnsafeMutablePointer<Float>
) {
    for r in rows {
        let yr = y + r * C
        switch (bias, cap) {
        case let (bias?, cap?): for c in 0..<C { yr[c] = min(max(yr[c] + bias[c], 0), cap) }
        case let (bias?, nil): for c in 0..<C { yr[c] += bias[c] }
        case let (nil, cap?): for c in 0..<C { yr[c] = min(max(yr[c], 0), cap) }
        case (nil, nil): break
        }
    }
}

/// The adjoint of `biasRectifyForward` in one pass: when a cap is given, dy is masked in place to
/// where the epilogue's output `y` lies strictly inside (0, cap); then, when a bias gradient is given,
/// dbias[c] += Σ_r dy[r, c] (summed by `sums` in row slices, so the result does not depend on the
/// thread count).
func biasRectifyBackward(
    _ dy: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, rows: Int, channels C: Int,
    cap: Float?, biasGradient: (sums: ChannelSums, dbias: UnsafeMutablePointer<Float>)?
) {
    if let (sums, dbias) = biasGradient {
        sums.sum(rows: rows, MaskedBiasGradient(dy: dy, y: y, C: C, cap: cap))
        for c in 0..<C { dbias[c] += Float(sums.total[c]) }
    } else if let cap {
        reluBackward(dy, y, count: rows * C, cap: cap, dy)
    }
}

/// Σ_r dy[r, c] into the first sum, dy first masked in place where `y` is outside (0, cap) when a
/// cap is given.
private struct MaskedBiasGradient: RowSums {
    let dy: UnsafeMutablePointer<Float>, y: UnsafePointer<Float>, C: Int, cap: Float?

    func add(rows: Range<Int>, _ sum: UnsafeMutablePointer<Float>, _: UnsafeMutablePointer<Float>) {
        for r in rows {
            let d = dy + r * C, yr = y + r * C
            if let cap {
                for c in 0..<C {
                    let g = d[c], v = yr[c], masked = (v > 0 && v < cap) ? g : 0
                    d[c] = masked
                    sum[c] += masked
                }
            } else {
                for c in 0..<C { sum[c] += d[c] }
            }
        }
    }
}
