// Direct convolution over NHWC activations: RGB stems at any stride, and windows at stride 1 over
// whole blocks of 16 channels (`ConvolutionPolicy` decides which layers take it).
//
// Dimension legend:
//   N batch, H W input height and width, C input channels, O output channels,
//   K kernel side, S stride, P padding, HO WO output height and width, T = K·K·C taps × channels.
// With C = 3, im2row + GEMM writes a column matrix 9× the input and multiplies with an inner extent of
// only 27, where OpenBLAS runs at a fraction of its peak. Here each input value instead multiplies a
// contiguous row of O weights, so the inner loop runs over output channels and vectorises; the
// weights are used transposed, `[T][O]`, from scratch. The forward pass is split into slices of
// output rows of the whole batch, so that one image alone still runs on every thread (a 224×224 stem
// at batch 1); the backward passes into slices of images, whose weight-gradient partials add up in
// slice order. With few outputs (32 in SeedNet's baseline) the column matrix's
// GEMM is far from OpenBLAS's peak after im2row has copied the input K·K times; the direct kernels
// need no column matrix at all.

/// Multiply-adds below which a direct convolution pass is not split over threads.
private let directGrain = 1 << 18

private func directSlices(_ g: WindowGeometry, outputChannels O: Int) -> Int {
    Parallel.itemSliceCount(
        g.batch, workPerItem: g.outputHeight * g.outputWidth * g.kernel * g.kernel * g.channels * O,
        grain: directGrain)
}

/// How many slices of output rows (of the whole batch) a forward pass over `g` is cut into.
private func directRowSlices(_ g: WindowGeometry, outputChannels O: Int) -> Int {
    Parallel.itemSliceCount(
        g.batch * g.outputHeight, workPerItem: g.outputWidth * g.kernel * g.kernel * g.channels * O,
        grain: directGrain)
}

/// Floats of scratch the direct kernels want: the transposed weights, then one weight-gradient block
/// `[T][O]` per image slice.
func directConvScratch(_ g: WindowGeometry, outputChannels O: Int) -> Int {
    (1 + directSlices(g, outputChannels: O)) * g.kernel * g.kernel * g.channels * O
}

/// Writes w `[O][T]` transposed into `wt` `[T][O]`.
private func transposeWeights(_ w: UnsafePointer<Float>, taps T: Int, outputs O: Int, into wt: UnsafeMutablePointer<Float>) {
    for o in 0..<O { for t in 0..<T { wt[t * O + o] = w[o * T + t] } }
}

/// y[n, oy, ox, o] = bias[o] + Σ_{ky,kx,c} x[n, oy·S−P+ky, ox·S−P+kx, c] · w[o, ky, kx, c], clamped
/// to [0, cap] when a rectifier is fused (`cap`: nil for none, +∞ for ReLU), then mapped by `affine`
/// when given (a batch norm in evaluation folded in: `channelAffine`, the batch norm's own expression,
/// on each pixel while it is in L1, so the bits are those of the batch norm's pass after this one).
///
/// Output channels go in blocks of 32 held in four 8-wide registers across every tap of a pixel, so
/// each output is stored once and clamped while in L1. Where three (or two) neighbouring pixels'
/// windows lie inside the image across, they are computed together, each weight load feeding every
/// pixel's accumulators: twelve accumulators hide the multiply-adds' latency, which eight did not.
/// Channels past the last whole block go eight at a time in one register (MobileNet 0.5's and 0.25's stems have 16 and 8), the last
/// few in a plain loop.
func directConvForward(
    _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
    _ g: WindowGeometry, outputChannels O: Int, cap: Float?, affine: ChannelAffine? = nil,
    _ y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
) {
    transposeWeights(w, taps: g.kernel * g.kernel * g.channels, outputs: O, into: scratch)
    directConvolve(x, scratch, bias, g, outputChannels: O, cap: cap, affine: affine, y)
}

/// dw += the weight gradient (`directConvBackwardWeight`) and, unless `dx` is nil, dx = the input
/// gradient, overwritten (`directConvBackwardInput`). `scratch` holds `directConvScratch` floats.
func directConvBackward(
    _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
    _ g: WindowGeometry, outputChannels O: Int, _ dw: UnsafeMutablePointer<Float>,
    _ dx: UnsafeMutablePointer<Float>?, scratch: UnsafeMutablePointer<Float>
) {
    directConvBackwardWeight(dy, x, g, outputChannels: O, dw, scratch: scratch)
    if let dx { directConvBackwardInput(dy, w, g, outputChannels: O, dx, scratch: scratch) }
}

/// The forward pass on weights already laid out `[T][O]` (`wt`).
private func directConvolve(
    _ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
    _ g: WindowGeometry, outputChannels O: Int, cap: Float?, affine: ChannelAffine? = nil,
    _ y: UnsafeMutablePointer<Float>
) {
    Parallel.forEachRange(
        of: g.batch * g.outputHeight, slices: directRowSlices(g, outputChannels: O),
        DirectConvolution(x: x, wt: wt, bias: bias, g: g, O: O, cap: cap, affine: affine, y: y))
}

/// Output rows (of the whole batch) of `directConvolve`.
private struct DirectConvolution: RangeJob {
    let x: UnsafePointer<Float>, wt: UnsafePointer<Float>, bias: UnsafePointer<Float>?, g: WindowGeometry, O: Int
    let cap: Float?, affine: ChannelAffine?, y: UnsafeMutablePointer<Float>

    func run(range outputRows: Range<Int>, slice: Int) {
        let (H, W, C, K, S, P) = (g.height, g.width, g.channels, g.kernel, g.stride, g.padding)
        let HO = g.outputHeight, WO = g.outputWidth
        let blocked = O / 32 * 32, eights = O / 8 * 8
        // Three pixels fill twelve registers with blocks of 32 outputs; without such blocks, six pixels
        // of 16 outputs do (MobileNet 0.5's stem, dx of a layer over 16 channels).
        let group = blocked > 0 || O < 16 ? 3 : 6
        // Output columns whose whole window lies inside the image across: inLow..<inHigh.
        let inLow = (P + S - 1) / S, inHigh = W + P < K ? 0 : min(WO, (W + P - K) / S + 1)
        for outputRow in outputRows {
            let n = outputRow / HO, oy = outputRow % HO
            let rows = g.tapRows(atOutputRow: oy)
            // x0 is the window's first input pixel (row ky adds ky·W·C; taps outside are never read).
            let rowStart = (n * H + oy * S - P) * W
            var ox = 0
            while ox < WO {
                // Pixels computed together: up to `group` from ox whose windows lie inside across.
                let pixels = ox >= inLow ? max(1, min(group, inHigh - ox)) : 1
                let triple = pixels == 3, pair = pixels == 2
                let columns = pixels > 1 ? 0..<K : g.tapColumns(atOutputColumn: ox),
                    taps = (columns.lowerBound * C)..<(columns.upperBound * C)
                let out = y + ((n * HO + oy) * WO + ox) * O, x0 = x + (rowStart + ox * S - P) * C, x1 = x0 + S * C,
                    x2 = x1 + S * C
                if let bias {
                    for p in 0..<pixels { (out + p * O).update(from: bias, count: O) }
                } else {
                    out.update(repeating: 0, count: pixels * O)
                }
                var block = 0
                while block < blocked {
                    if triple {
                        var first = Block32(load: out + block), second = Block32(load: out + O + block)
                        var third = Block32(load: out + 2 * O + block)
                        for ky in rows {
                            let row = ky * W * C, weights = wt + ky * K * C * O + block
                            for t in 0..<(K * C) {
                                Block32.add(
                                    weights + t * O, times: x0[row + t], x1[row + t], x2[row + t],
                                    to: &first, &second, &third)
                            }
                        }
                        first.store(to: out + block)
                        second.store(to: out + O + block)
                        third.store(to: out + 2 * O + block)
                    } else if pair {
                        var first = Block32(load: out + block), second = Block32(load: out + O + block)
                        for ky in rows {
                            let row = ky * W * C, weights = wt + ky * K * C * O + block
                            for t in 0..<(K * C) {
                                let wv = Block32(load: weights + t * O)
                                first.add(x0[row + t], times: wv)
                                second.add(x1[row + t], times: wv)
                            }
                        }
                        first.store(to: out + block)
                        second.store(to: out + O + block)
                    } else {
                        var acc = Block32(load: out + block)
                        for ky in rows {
                            let row = ky * W * C, weights = wt + ky * K * C * O + block
                            for t in taps { acc.add(x0[row + t], times: Block32(load: weights + t * O)) }
                        }
                        acc.store(to: out + block)
                    }
                    block += 32
                }
                // Six pixels' 16 outputs in twelve registers (only when there is no block of 32).
                if pixels == 6 {
                    while block + 16 <= O {
                        var acc = Six16(load: out + block, stride: O)
                        for ky in rows {
                            let row = ky * W * C, weights = wt + ky * K * C * O + block
                            for t in 0..<(K * C) { acc.add(weights + t * O, times: x0 + row + t, step: S * C) }
                        }
                        acc.store(to: out + block, stride: O)
                        block += 16
                    }
                }
                // Outputs past the blocks of 32: eight at a time in one register per pixel, pixels in
                // pairs sharing the weight loads while two are left.
                while block < eights {
                    var p = 0
                    while p < pixels {
                        let xp = x0 + p * S * C, xq = xp + S * C, o = out + p * O + block
                        if p + 1 < pixels {
                            var first = load8(o), second = load8(o + O)
                            for ky in rows {
                                let row = ky * W * C, weights = wt + ky * K * C * O + block
                                for t in 0..<(K * C) {
                                    let wv = load8(weights + t * O)
                                    first.addProduct(SIMD8(repeating: xp[row + t]), wv)
                                    second.addProduct(SIMD8(repeating: xq[row + t]), wv)
                                }
                            }
                            store8(first, o)
                            store8(second, o + O)
                            p += 2
                        } else {
                            var acc = load8(o)
                            for ky in rows {
                                let row = ky * W * C, weights = wt + ky * K * C * O + block
                                for t in taps { acc.addProduct(SIMD8(repeating: xp[row + t]), load8(weights + t * O)) }
                            }
                            store8(acc, o)
                            p += 1
                        }
                    }
                    block += 8
                }
                for p in 0..<pixels {
                    let o = out + p * O, xp = x0 + p * S * C
                    if eights < O {
                        for ky in rows {
                            for t in taps {
                                let v = xp[ky * W * C + t], wr = wt + (ky * K * C + t) * O
                                for c in eights..<O { o[c] += v * wr[c] }
                            }
                        }
                    }
                    if let cap { for c in 0..<O { o[c] = min(max(o[c], 0), cap) } }
                }
                if let affine {
                    channelAffine(
                        out, rows: 0..<pixels, channels: O, scale: affine.scale, shift: affine.shift, cap: affine.cap, out)
                }
                ox += pixels
            }
        }
    }
}

/// Sixteen outputs of each of six pixels (O apart in memory) in twelve 8-wide registers: the forward
/// kernel's accumulator when there is no block of 32 outputs.
private struct Six16 {
    var p0, p1, p2, p3, p4, p5: SIMD16<Float>

    @inline(__always) init(load out: UnsafeMutablePointer<Float>, stride O: Int) {
        let raw = UnsafeRawPointer(out), step = O * MemoryLayout<Float>.stride
        p0 = raw.loadUnaligned(as: SIMD16<Float>.self)
        p1 = raw.loadUnaligned(fromByteOffset: step, as: SIMD16<Float>.self)
        p2 = raw.loadUnaligned(fromByteOffset: 2 * step, as: SIMD16<Float>.self)
        p3 = raw.loadUnaligned(fromByteOffset: 3 * step, as: SIMD16<Float>.self)
        p4 = raw.loadUnaligned(fromByteOffset: 4 * step, as: SIMD16<Float>.self)
        p5 = raw.loadUnaligned(fromByteOffset: 5 * step, as: SIMD16<Float>.self)
    }

    /// Pixel i += x[i·step] · the 16 weights at w.
    @inline(__always) mutating func add(_ w: UnsafePointer<Float>, times x: UnsafePointer<Float>, step: Int) {
        let wv = UnsafeRawPointer(w).loadUnaligned(as: SIMD16<Float>.self)
        p0.addProduct(SIMD16(repeating: x[0]), wv)
        p1.addProduct(SIMD16(repeating: x[step]), wv)
        p2.addProduct(SIMD16(repeating: x[2 * step]), wv)
        p3.addProduct(SIMD16(repeating: x[3 * step]), wv)
        p4.addProduct(SIMD16(repeating: x[4 * step]), wv)
        p5.addProduct(SIMD16(repeating: x[5 * step]), wv)
    }

    @inline(__always) func store(to out: UnsafeMutablePointer<Float>, stride O: Int) {
        let raw = UnsafeMutableRawPointer(out), step = O * MemoryLayout<Float>.stride
        raw.storeBytes(of: p0, as: SIMD16<Float>.self)
        raw.storeBytes(of: p1, toByteOffset: step, as: SIMD16<Float>.self)
        raw.storeBytes(of: p2, toByteOffset: 2 * step, as: SIMD16<Float>.self)
        raw.storeBytes(of: p3, toByteOffset: 3 * step, as: SIMD16<Float>.self)
        raw.storeBytes(of: p4, toByteOffset: 4 * step, as: SIMD16<Float>.self)
        raw.storeBytes(of: p5, toByteOffset: 5 * step, as: SIMD16<Float>.self)
    }
}

/// 32 floats in four 8-wide vectors, the accumulator of the direct kernels.
private struct Block32 {
    var a, b, c, d: SIMD8<Float>

    @inline(__always) init(load p: UnsafePointer<Float>) {
        let raw = UnsafeRawPointer(p)
        a = raw.loadUnaligned(as: SIMD8<Float>.self)
        b = raw.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
        c = raw.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
        d = raw.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
    }

    @inline(__always) init(load p: UnsafeMutablePointer<Float>) { self.init(load: UnsafePointer(p)) }

    @inline(__always) init(repeating v: Float) {
        (a, b, c, d) = (.init(repeating: v), .init(repeating: v), .init(repeating: v), .init(repeating: v))
    }

    /// self += v · w, element-wise, with fused multiply-adds.
    @inline(__always) mutating func add(_ v: Float, times w: Block32) {
        let s = SIMD8<Float>(repeating: v)
        a.addProduct(s, w.a)
        b.addProduct(s, w.b)
        c.addProduct(s, w.c)
        d.addProduct(s, w.d)
    }

    /// a0 += v0 · d, a1 += v1 · d, a2 += v2 · d for the 32 floats d at p, a quarter at a time so that
    /// the twelve accumulators, one quarter of d and the three broadcasts fit in 16 registers.
    @inline(__always) static func add(
        _ p: UnsafePointer<Float>, times v0: Float, _ v1: Float, _ v2: Float,
        to a0: inout Block32, _ a1: inout Block32, _ a2: inout Block32
    ) {
        let (s0, s1, s2) = (SIMD8<Float>(repeating: v0), SIMD8<Float>(repeating: v1), SIMD8<Float>(repeating: v2))
        let raw = UnsafeRawPointer(p)
        var d = raw.loadUnaligned(as: SIMD8<Float>.self)
        a0.a.addProduct(s0, d)
        a1.a.addProduct(s1, d)
        a2.a.addProduct(s2, d)
        d = raw.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
        a0.b.addProduct(s0, d)
        a1.b.addProduct(s1, d)
        a2.b.addProduct(s2, d)
        d = raw.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
        a0.c.addProduct(s0, d)
        a1.c.addProduct(s1, d)
        a2.c.addProduct(s2, d)
        d = raw.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
        a0.d.addProduct(s0, d)
        a1.d.addProduct(s1, d)
        a2.d.addProduct(s2, d)
    }

    /// p[0..<32] += self.
    @inline(__always) func add(to p: UnsafeMutablePointer<Float>) {
        var sum = Block32(load: p)
        sum.a += a
        sum.b += b
        sum.c += c
        sum.d += d
        sum.store(to: p)
    }

    @inline(__always) func store(to p: UnsafeMutablePointer<Float>) {
        let raw = UnsafeMutableRawPointer(p)
        raw.storeBytes(of: a, as: SIMD8<Float>.self)
        raw.storeBytes(of: b, toByteOffset: 32, as: SIMD8<Float>.self)
        raw.storeBytes(of: c, toByteOffset: 64, as: SIMD8<Float>.self)
        raw.storeBytes(of: d, toByteOffset: 96, as: SIMD8<Float>.self)
    }
}

/// dw[o, ky, kx, c] += Σ dy[n, oy, ox, o] · x[n, oy·S−P+ky, ox·S−P+kx, c]. Accumulates.
///
/// A few output rows at a time (their dy and the input rows they read stay in L1): for each tap,
/// block of 32 output channels and three input channels (then a pair or one), register accumulators
/// run over the rows' pixels that read inside the image through that tap (dy read contiguously, x
/// broadcast) and are then added into the slice's sums. Three channels' twelve accumulators hide the
/// multiply-adds' latency, which a pair's eight did not. Channels past the last whole
/// block go sixteen at a time for three input channels, then eight at a time in one register, the
/// last few in a per-pixel loop. Each image slice sums into its own `[T][O]` block of scratch; the
/// blocks are added into dw in slice order, so the result does not depend on the thread count.
private func directConvBackwardWeight(
    _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ g: WindowGeometry,
    outputChannels O: Int, _ dw: UnsafeMutablePointer<Float>,
    scratch: UnsafeMutablePointer<Float>
) {
    let T = g.kernel * g.kernel * g.channels, partials = scratch + T * O, slices = directSlices(g, outputChannels: O)
    Parallel.forEachRange(
        of: g.batch, slices: slices,
        DirectWeightGradient(dy: dy, x: x, g: g, O: O, partials: partials))
    for slice in 0..<slices {
        let sums = partials + slice * T * O
        for o in 0..<O { for t in 0..<T { dw[o * T + t] += sums[t * O + o] } }
    }
}

/// One image slice of `directConvBackwardWeight`, summed into the slice's own `[T][O]` block of `partials`.
private struct DirectWeightGradient: RangeJob {
    let dy: UnsafePointer<Float>, x: UnsafePointer<Float>, g: WindowGeometry, O: Int, partials: UnsafeMutablePointer<Float>

    func run(range images: Range<Int>, slice: Int) {
        let (H, W, C, K, S, P) = (g.height, g.width, g.channels, g.kernel, g.stride, g.padding)
        let HO = g.outputHeight, WO = g.outputWidth, T = K * K * C
        let blocked = O / 32 * 32, eights = O / 8 * 8
        // Output rows per group: about 8 KiB of dy.
        let groupRows = max(1, min(HO, 2048 / max(1, WO * O)))
        let sums = partials + slice * T * O
        sums.update(repeating: 0, count: T * O)
        for n in images {
            for group in stride(from: 0, to: HO, by: groupRows) {
                let groupEnd = min(HO, group + groupRows)
                for ky in 0..<K {
                    let tapRows = g.outputRows(readingTapRow: ky)
                    let (top, bottom) = (max(group, tapRows.lowerBound), min(groupEnd, tapRows.upperBound))
                    if top >= bottom { continue }
                    let rows = top..<bottom
                    for kx in 0..<K {
                        let columns = g.outputColumns(readingTapColumn: kx),
                            (first, last) = (columns.lowerBound, columns.upperBound)
                        if columns.isEmpty { continue }
                        // x at output pixel (oy, ox) for this tap: xTap + (oy·S·W + ox·S)·C.
                        let xTap = x + ((n * H - P + ky) * W - P + kx) * C, tap = sums + (ky * K + kx) * C * O
                        let dyImage = dy + n * HO * WO * O
                        for block in stride(from: 0, to: blocked, by: 32) {
                            // Input channels in threes, each dy load feeding all three: twelve accumulators
                            // hide the multiply-adds' latency.
                            var c = 0
                            while c + 3 <= C {
                                var a0 = Block32(repeating: 0), a1 = Block32(repeating: 0), a2 = Block32(repeating: 0)
                                for oy in rows {
                                    let xc = xTap + oy * S * W * C + c, dyBlock = dyImage + oy * WO * O + block
                                    for ox in first..<last {
                                        let xp = xc + ox * S * C
                                        Block32.add(dyBlock + ox * O, times: xp[0], xp[1], xp[2], to: &a0, &a1, &a2)
                                    }
                                }
                                a0.add(to: tap + c * O + block)
                                a1.add(to: tap + (c + 1) * O + block)
                                a2.add(to: tap + (c + 2) * O + block)
                                c += 3
                            }
                            // Input channels in pairs, each dy load feeding both (the loop is bound by those loads).
                            for c in stride(from: c, to: C, by: 2) {
                                var acc = Block32(repeating: 0), next = Block32(repeating: 0)
                                for oy in rows {
                                    let xc = xTap + oy * S * W * C + c, dyBlock = dyImage + oy * WO * O + block
                                    if c + 1 < C {
                                        for ox in first..<last {
                                            let d = Block32(load: dyBlock + ox * O)
                                            acc.add(xc[ox * S * C], times: d)
                                            next.add(xc[ox * S * C + 1], times: d)
                                        }
                                    } else {
                                        for ox in first..<last { acc.add(xc[ox * S * C], times: Block32(load: dyBlock + ox * O)) }
                                    }
                                }
                                acc.add(to: tap + c * O + block)
                                if c + 1 < C { next.add(to: tap + (c + 1) * O + block) }
                            }
                        }
                        // Outputs past the blocks of 32: sixteen at a time for up to three input channels
                        // together (MobileNet 0.5's 16-output stem), then eight at a time, one register
                        // per input channel.
                        var block = blocked
                        while block + 16 <= eights {
                            var c = 0
                            while c < C {
                                let n = min(3, C - c)
                                var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>()
                                for oy in rows {
                                    let xc = xTap + oy * S * W * C + c, dyBlock = dyImage + oy * WO * O + block
                                    for ox in first..<last {
                                        let d = load16(dyBlock + ox * O), xp = xc + ox * S * C
                                        a0.addProduct(SIMD16(repeating: xp[0]), d)
                                        if n > 1 { a1.addProduct(SIMD16(repeating: xp[1]), d) }
                                        if n > 2 { a2.addProduct(SIMD16(repeating: xp[2]), d) }
                                    }
                                }
                                let sum = tap + c * O + block
                                store16(load16(sum) + a0, sum)
                                if n > 1 { store16(load16(sum + O) + a1, sum + O) }
                                if n > 2 { store16(load16(sum + 2 * O) + a2, sum + 2 * O) }
                                c += n
                            }
                            block += 16
                        }
                        for block in stride(from: block, to: eights, by: 8) {
                            for c in 0..<C {
                                var acc = SIMD8<Float>()
                                for oy in rows {
                                    let xc = xTap + oy * S * W * C + c, dyBlock = dyImage + oy * WO * O + block
                                    for ox in first..<last {
                                        acc.addProduct(SIMD8(repeating: xc[ox * S * C]), load8(dyBlock + ox * O))
                                    }
                                }
                                store8(load8(tap + c * O + block) + acc, tap + c * O + block)
                            }
                        }
                    }
                }
            }
        }
        guard eights < O else { return }
        forEachOutputPixel(g, images: images) { pixel, taps in
            let d = dy + pixel * O
            taps { input, tap in
                let xr = x + input
                for c in 0..<C {
                    let v = xr[c], row = sums + (tap * C + c) * O
                    for o in eights..<O { row[o] += v * d[o] }
                }
            }
        }
    }
}

/// dx[n, iy, ix, c] = Σ over the outputs and filters that read (iy, ix, c) of dy · w; overwrites dx.
///
/// At stride 1 with more input channels than a stem, dx is the convolution of dy (padding K − 1 − P)
/// with the flipped filters, run by the forward kernel; otherwise each output pixel's dy is dotted
/// with the weights of every tap it reads (the RGB stem, whose dx is rarely wanted).
private func directConvBackwardInput(
    _ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ g: WindowGeometry,
    outputChannels O: Int, _ dx: UnsafeMutablePointer<Float>,
    scratch: UnsafeMutablePointer<Float>
) {
    let C = g.channels, T = g.kernel * g.kernel * C, wt = scratch
    if g.stride == 1 && C > ConvolutionPolicy.stemChannels {
        flipFilters(w, g, outputChannels: O, transposed: true, into: wt)
        directConvolve(dy, wt, nil, g.inputGradientWindow(outputChannels: O), outputChannels: C, cap: nil, dx)
        return
    }
    transposeWeights(w, taps: T, outputs: O, into: wt)
    Parallel.forEachRange(
        of: g.batch, slices: directSlices(g, outputChannels: O),
        DirectInputGradient(dy: dy, wt: wt, g: g, O: O, dx: dx))
}

/// Images of `directConvBackwardInput` by the per-pixel loop, weights transposed in `wt`.
private struct DirectInputGradient: RangeJob {
    let dy: UnsafePointer<Float>, wt: UnsafePointer<Float>, g: WindowGeometry, O: Int, dx: UnsafeMutablePointer<Float>

    func run(range images: Range<Int>, slice: Int) {
        let C = g.channels, inputFloats = g.height * g.width * C
        (dx + images.lowerBound * inputFloats).update(repeating: 0, count: images.count * inputFloats)
        forEachOutputPixel(g, images: images) { pixel, taps in
            let d = dy + pixel * O
            taps { input, tap in
                let dxr = dx + input
                for c in 0..<C {
                    let wr = wt + (tap * C + c) * O
                    var sum: Float = 0
                    for o in 0..<O { sum += d[o] * wr[o] }
                    dxr[c] += sum
                }
            }
        }
    }
}

/// Calls `body(pixel, taps)` for every output pixel of `images` (its flat index), where `taps(visit)`
/// calls `visit(input, tap)` for every tap (ky·K + kx) that reads inside the image, with the offset of
/// the C input floats it reads.
@inline(__always)
private func forEachOutputPixel(
    _ g: WindowGeometry, images: Range<Int>,
    _ body: (Int, (_ visit: (Int, Int) -> Void) -> Void) -> Void
) {
    let (H, W, C, K, S, P) = (g.height, g.width, g.channels, g.kernel, g.stride, g.padding)
    let HO = g.outputHeight, WO = g.outputWidth
    for n in images {
        for oy in 0..<HO {
            for ox in 0..<WO {
                body((n * HO + oy) * WO + ox) { visit in
                    for ky in g.tapRows(atOutputRow: oy) {
                        for kx in g.tapColumns(atOutputColumn: ox) {
                            visit(((n * H + oy * S - P + ky) * W + ox * S - P + kx) * C, ky * K + kx)
                        }
                    }
                }
            }
        }
    }
}
