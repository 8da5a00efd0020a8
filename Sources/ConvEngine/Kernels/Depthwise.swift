// Direct depthwise convolution over NHWC activations: each channel filtered by its own window.
//
// Dimension legend:
//   N batch, H W input height and width, C channels (consecutive in memory, the vectorised axis),
//   KH KW kernel side, S stride, P padding, HO WO output height and width.
// Filters are stored [KH, KW, C] so that one tap of every channel is a contiguous run of C floats.
// Window positions that fall into the padding are skipped outside the channel loop. The forward pass
// keeps each pixel's sums in registers across its taps; the backward passes' channel loops have no
// bounds checks and are vectorised by the compiler.
// The work is split into slices run on `Parallel`'s threads: the forward pass writes disjoint output
// rows, the input gradient disjoint images (disjoint input rows for a batch of one at stride 1);
// the weight gradient sums each slice into its own scratch and adds the slices in order, so the
// result does not depend on the thread count. The backward pass computes both gradients image by
// image (or slice of rows by slice of rows) from one buffer of dy per slice, made while the image is
// in cache (masked by the layer's rectifier, or the input gradient of the batch norm after the
// layer), so dy is read from memory once.

/// Multiply-adds below which a depthwise pass is not split over threads.
let depthwiseGrain = 1 << 18

/// How many image slices the depthwise backward pass over `g` is cut into.
func depthwiseSlices(_ g: WindowGeometry) -> Int {
    Parallel.itemSliceCount(
        g.batch, workPerItem: g.outputHeight * g.outputWidth * g.channels * g.kernel * g.kernel,
        grain: depthwiseGrain)
}

/// Floats of scratch the depthwise backward pass wants: each tap's weights tiled across an output
/// row (at stride 1), then per image slice one weight-and-bias gradient block
/// (`weightGradientBlock(g)`) and one image of output gradient.
func depthwiseScratch(_ g: WindowGeometry) -> Int {
    tiledWeightCount(g) + backwardSlices(g).count * (weightGradientBlock(g) + g.outputHeight * g.outputWidth * g.channels)
}

/// How the depthwise backward pass over `g` is cut: into slices of images, or, when the batch has
/// too few images to give every thread one (a batch of one) and the stride is 1, into slices of
/// rows, each computing the weight-gradient sums over its output rows and the input gradient of its
/// input rows. A function of the shape alone.
func backwardSlices(_ g: WindowGeometry) -> (count: Int, byRows: Bool) {
    let images = depthwiseSlices(g)
    guard images < 2, g.stride == 1 else { return (images, false) }
    let rows = depthwiseRowSlices(g)
    return rows > 1 ? (rows, true) : (images, false)
}

private func tiledWeightCount(_ g: WindowGeometry) -> Int {
    g.stride == 1 ? g.kernel * g.kernel * g.outputWidth * g.channels : 0
}

/// One slice's weight-gradient sums: `[K·K][WO·C]` at stride 1 (tiled like the weights, summed over
/// the output row at the end), `[K·K][C]` otherwise; then C floats for the bias gradient.
private func weightGradientBlock(_ g: WindowGeometry) -> Int {
    (g.kernel * g.kernel * (g.stride == 1 ? g.outputWidth : 1) + 1) * g.channels
}

/// y[n, oy, ox, c] = bias[c] + Σ_{ky,kx} x[n, oy·S−P+ky, ox·S−P+kx, c] · w[ky, kx, c], clamped to
/// [0, cap] when a rectifier is fused (`cap`: nil for none, +∞ for ReLU). With `affine` (a batch norm
/// in evaluation folded in) the sum is then mapped to sum·scale[c] + shift[c] and clamped to
/// `affine.cap` instead, in the same pass over each output row that would clamp it.
///
/// Pixel by pixel, 32 channels at a time (then 8, then one) in registers across every tap of the
/// window (strided windows over 256 channels and more tap by tap), each output stored once: the
/// taps' inputs and weights are loads from the nearest cache, and no partial sum goes back to
/// memory. (The kernel before this one added each tap over a whole row held in memory, against
/// weights tiled across the row: three loads and a store for every multiply-add, at any size.) The
/// output rows of the whole batch are cut into slices (`depthwiseForwardSlices`), so that one image
/// alone still runs on every thread; each row is clamped right after its pixels, while it is still
/// in cache.
func depthwiseForward(
    _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
    _ g: WindowGeometry, cap: Float?, affine: ChannelAffine? = nil, _ y: UnsafeMutablePointer<Float>
) {
    Parallel.forEachRange(
        of: g.batch * g.outputHeight, slices: depthwiseForwardSlices(g),
        DepthwiseForward(x: x, w: w, bias: bias, g: g, cap: cap, affine: affine, y: y))
}

/// How many slices of output rows (of the whole batch) the forward pass over `g` is cut into: at
/// least a quarter of `depthwiseGrain` multiply-adds each, finer than the backward pass's slices.
/// Every output depends on its window alone, so the count changes no bits; finer slices balance
/// the threads on the small layers of one image, which were cut into 1 or 3 slices (a 14×14×512
/// layer: 0.9 M multiply-adds, two of its three slices on one thread).
func depthwiseForwardSlices(_ g: WindowGeometry) -> Int { outputRowSlices(g, grain: depthwiseGrain / 4) }

/// The most floats (channels × stride) from one output pixel's window to the next for which the
/// forward pass computes windows inside the image two pixels at a time.
let pairedSpan = 128

/// How many slices of output rows (of the whole batch) the backward pass of a batch of one over `g`
/// is cut into (`backwardSlices`).
func depthwiseRowSlices(_ g: WindowGeometry) -> Int { outputRowSlices(g, grain: depthwiseGrain) }

/// How many slices the batch's output rows over `g` are cut into, at least `grain` multiply-adds each.
private func outputRowSlices(_ g: WindowGeometry, grain: Int) -> Int {
    Parallel.itemSliceCount(
        g.batch * g.outputHeight, workPerItem: g.outputWidth * g.channels * g.kernel * g.kernel, grain: grain)
}

private struct DepthwiseForward: RangeJob {
    let x: UnsafePointer<Float>, w: UnsafePointer<Float>, bias: UnsafePointer<Float>?, g: WindowGeometry
    let cap: Float?, affine: ChannelAffine?, y: UnsafeMutablePointer<Float>

    func run(range rows: Range<Int>, slice: Int) {
        let (H, C, S, P) = (g.height, g.channels, g.stride, g.padding)
        let HO = g.outputHeight, WO = g.outputWidth, rowFloats = WO * C
        // Strided windows over 256 channels and more read nine pixels' long runs that neighbouring
        // outputs barely share; they went faster tap by tap over the whole pixel (`pixelTapByTap`).
        let tapByTap = S > 1 && C >= 256
        // Output columns whose whole window lies inside the image: there, two pixels at a time, where
        // a step from one pixel to the next spans at most 128 floats (C·S). Past that (28×28×256 at
        // stride 1, 56→28 over 128 channels at stride 2) pairs measured slower than single pixels.
        let interior = tapByTap || C < 8 || C * S > pairedSpan ? 0..<0 : g.interiorOutputColumns
        for r in rows {
            let n = r / HO, oy = r - n * HO
            let taps = g.tapRows(atOutputRow: oy), row = y + r * rowFloats
            // The input row of window row ky is top + ky (top may lie in the padding; only rows
            // inside the image are read).
            let top = n * H + oy * S - P
            let pairs = taps == 0..<g.kernel ? interior : 0..<0
            var ox = 0
            while ox < WO {
                let out = row + ox * C, left = ox * S - P
                if ox >= pairs.lowerBound && ox + 1 < pairs.upperBound {
                    pixelPair(out, top: top, left: left)
                    ox += 2
                    continue
                }
                let columns = g.tapColumns(atOutputColumn: ox)
                if tapByTap {
                    pixelTapByTap(out, rows: taps, columns: columns, top: top, left: left)
                } else {
                    pixel(out, rows: taps, columns: columns, top: top, left: left)
                }
                ox += 1
            }
            if let affine {
                channelAffine(
                    row, rows: 0..<WO, channels: C, scale: affine.scale, shift: affine.shift, cap: affine.cap, row)
            } else if let cap {
                for i in 0..<rowFloats { row[i] = min(max(row[i], 0), cap) }
            }
        }
    }

    /// One output pixel's C sums in the same order as `pixel`, added tap by tap into the output.
    @inline(__always)
    private func pixelTapByTap(_ out: UnsafeMutablePointer<Float>, rows: Range<Int>, columns: Range<Int>, top: Int, left: Int) {
        let (W, C, K) = (g.width, g.channels, g.kernel)
        if let bias { out.update(from: bias, count: C) } else { out.update(repeating: 0, count: C) }
        for ky in rows {
            for kx in columns {
                let xp = x + ((top + ky) * W + left + kx) * C, wp = w + (ky * K + kx) * C
                for c in 0..<C { out[c] += xp[c] * wp[c] }
            }
        }
    }

    /// Two neighbouring output pixels (columns ox and ox + 1) whose windows lie inside the image, C·S
    /// at most `pairedSpan` and C at least 8:
    /// their sums of each block of 32 channels in sixteen registers at once, each weight loaded once
    /// for both, twice as many independent sums as `pixel` keeps (whose four wait on the adder's
    /// latency); then blocks of 16 and of 8 the same way, and the last channels by `pixel`. Each
    /// sum in `pixel`'s order.
    @inline(__always)
    private func pixelPair(_ out: UnsafeMutablePointer<Float>, top: Int, left: Int) {
        let (W, C, K, S) = (g.width, g.channels, g.kernel, g.stride)
        // Every index here is inside the batch's arrays (a window inside the image), so the
        // arithmetic wraps instead of checking for an overflow that cannot happen.
        var c = 0
        while c &+ 32 <= C {
            var a0 = SIMD8<Float>(), a1 = a0, a2 = a0, a3 = a0
            if let bias { (a0, a1, a2, a3) = (load8(bias + c), load8(bias + c + 8), load8(bias + c + 16), load8(bias + c + 24)) }
            var b0 = a0, b1 = a1, b2 = a2, b3 = a3
            for ky in 0..<K {
                let xRow = x + (((top &+ ky) &* W &+ left) &* C &+ c), wRow = w + (ky &* K &* C &+ c)
                for kx in 0..<K {
                    let xp = xRow + kx &* C, xq = xp + S &* C, wp = wRow + kx &* C
                    let w0 = load8(wp), w1 = load8(wp + 8), w2 = load8(wp + 16), w3 = load8(wp + 24)
                    a0 += load8(xp) * w0
                    a1 += load8(xp + 8) * w1
                    a2 += load8(xp + 16) * w2
                    a3 += load8(xp + 24) * w3
                    b0 += load8(xq) * w0
                    b1 += load8(xq + 8) * w1
                    b2 += load8(xq + 16) * w2
                    b3 += load8(xq + 24) * w3
                }
            }
            store8(a0, out + c)
            store8(a1, out + c + 8)
            store8(a2, out + c + 16)
            store8(a3, out + c + 24)
            store8(b0, out + C + c)
            store8(b1, out + C + c + 8)
            store8(b2, out + C + c + 16)
            store8(b3, out + C + c + 24)
            c &+= 32
        }
        // The channels past the blocks of 32 (16 and 24 in narrow networks), 8 at a time for both
        // pixels: two or four independent sums.
        while c &+ 16 <= C {
            var a0 = SIMD8<Float>(), a1 = a0
            if let bias { (a0, a1) = (load8(bias + c), load8(bias + c + 8)) }
            var b0 = a0, b1 = a1
            for ky in 0..<K {
                let xRow = x + (((top &+ ky) &* W &+ left) &* C &+ c), wRow = w + (ky &* K &* C &+ c)
                for kx in 0..<K {
                    let xp = xRow + kx &* C, xq = xp + S &* C, wp = wRow + kx &* C
                    let w0 = load8(wp), w1 = load8(wp + 8)
                    a0 += load8(xp) * w0
                    a1 += load8(xp + 8) * w1
                    b0 += load8(xq) * w0
                    b1 += load8(xq + 8) * w1
                }
            }
            store8(a0, out + c)
            store8(a1, out + c + 8)
            store8(b0, out + C + c)
            store8(b1, out + C + c + 8)
            c &+= 16
        }
        while c &+ 8 <= C {
            var a = bias.map { load8($0 + c) } ?? SIMD8<Float>()
            var b = a
            for ky in 0..<K {
                let xRow = x + (((top &+ ky) &* W &+ left) &* C &+ c), wRow = w + (ky &* K &* C &+ c)
                for kx in 0..<K {
                    let xp = xRow + kx &* C, wv = load8(wRow + kx &* C)
                    a += load8(xp) * wv
                    b += load8(xp + S &* C) * wv
                }
            }
            store8(a, out + c)
            store8(b, out + C + c)
            c &+= 8
        }
        if c < C {
            pixel(out, rows: 0..<K, columns: 0..<K, top: top, left: left, from: c)
            pixel(out + C, rows: 0..<K, columns: 0..<K, top: top, left: left + S, from: c)
        }
    }

    /// One output pixel's C sums (from channel `first`): the bias (or 0), then x·w for each tap in
    /// `rows` × `columns`, in the order ky, kx, each a product and then a sum (the order the tests
    /// and the fixtures hold).
    @inline(__always)
    private func pixel(
        _ out: UnsafeMutablePointer<Float>, rows: Range<Int>, columns: Range<Int>, top: Int, left: Int, from first: Int = 0
    ) {
        let (W, C, K) = (g.width, g.channels, g.kernel)
        // The input of tap (ky, kx) at channel c: x[input(ky, kx) + c]; its weight: w[(ky·K + kx)·C + c].
        @inline(__always) func input(_ ky: Int, _ kx: Int) -> UnsafePointer<Float> { x + ((top + ky) * W + left + kx) * C }
        var c = first
        while c + 32 <= C {
            var a0 = SIMD8<Float>(), a1 = a0, a2 = a0, a3 = a0
            if let bias { (a0, a1, a2, a3) = (load8(bias + c), load8(bias + c + 8), load8(bias + c + 16), load8(bias + c + 24)) }
            for ky in rows {
                for kx in columns {
                    let xp = input(ky, kx) + c, wp = w + (ky * K + kx) * C + c
                    a0 += load8(xp) * load8(wp)
                    a1 += load8(xp + 8) * load8(wp + 8)
                    a2 += load8(xp + 16) * load8(wp + 16)
                    a3 += load8(xp + 24) * load8(wp + 24)
                }
            }
            store8(a0, out + c)
            store8(a1, out + c + 8)
            store8(a2, out + c + 16)
            store8(a3, out + c + 24)
            c += 32
        }
        while c + 8 <= C {
            var a = bias.map { load8($0 + c) } ?? SIMD8<Float>()
            for ky in rows {
                for kx in columns { a += load8(input(ky, kx) + c) * load8(w + (ky * K + kx) * C + c) }
            }
            store8(a, out + c)
            c += 8
        }
        while c < C {
            var a = bias?[c] ?? 0
            for ky in rows {
                for kx in columns { a += input(ky, kx)[c] * w[(ky * K + kx) * C + c] }
            }
            out[c] = a
            c += 1
        }
    }
}

/// The gradient a depthwise backward pass starts from, produced image by image into a scratch buffer
/// that stays in cache while the weight and input gradients read it.
enum DepthwiseOutputGradient {
    /// dy of the layer's output, masked where the layer's own rectifier clamped its output `y`
    /// (kept where 0 < y < cap; `cap` nil for no rectifier, when dy is read where it is).
    case output(UnsafePointer<Float>, rectified: UnsafePointer<Float>, cap: Float?)
    /// The input gradient of the batch norm that reads the layer's output, never written whole.
    case batchNorm(BatchNormInputGradient)

    /// Image n's gradient, `rows` rows of C floats: written to `scratch`, or where it already is.
    @inline(__always)
    func image(_ n: Int, rows: Int, channels C: Int, scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        self.rows((n * rows)..<((n + 1) * rows), channels: C, scratch: scratch)
    }

    /// The gradient's `rows` of C floats (pixels of the batch, n·HO·WO + oy·WO + ox): written to
    /// `scratch`, or where they already are.
    @inline(__always)
    func rows(_ rows: Range<Int>, channels C: Int, scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        let floats = rows.count * C, start = rows.lowerBound * C
        switch self {
        case .output(let dy, let y, let cap):
            let d = dy + start
            guard let cap else { return d }
            let v = y + start
            for i in 0..<floats { scratch[i] = (v[i] > 0 && v[i] < cap) ? d[i] : 0 }
        case .batchNorm(let gradient):
            gradient.write(rows: rows, to: scratch)
        }
        return UnsafePointer(scratch)
    }
}

/// The backward pass in one pass over the images: dw[ky, kx, c] += Σ dy · x over every output and
/// dbias[c] += Σ dy (accumulated), and, when `dx` is given, dx[n, iy, ix, c] = Σ over the outputs
/// that read (iy, ix) of dy · w (overwritten).
///
/// Each image's dy is first made in a scratch buffer by `gradient` (masked by the layer's rectifier,
/// or computed from the batch norm after the layer), then read from cache by both gradients: the
/// weight gradient sums into the slice's own block of scratch, at stride 1 whole output rows into
/// tap sums tiled across the row, otherwise per pixel; the input gradient adds each tap's dy row
/// times the tiled weights into the shifted input row (per pixel at other strides). The blocks are
/// then added to dw and dbias in slice order, so the result does not depend on the thread count.
/// `scratch` holds `depthwiseScratch(g)` floats.
func depthwiseBackward(
    _ gradient: DepthwiseOutputGradient, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ g: WindowGeometry,
    _ dw: UnsafeMutablePointer<Float>, _ dbias: UnsafeMutablePointer<Float>?, _ dx: UnsafeMutablePointer<Float>?,
    scratch: UnsafeMutablePointer<Float>
) {
    let C = g.channels, taps = g.kernel * g.kernel, (slices, byRows) = backwardSlices(g)
    let columns = g.stride == 1 ? g.outputWidth : 1, row = columns * C, block = weightGradientBlock(g)
    let filters = depthwiseFilters(w, g, scratch: scratch)
    let partials = scratch + tiledWeightCount(g), buffers = partials + slices * block
    if byRows {
        Parallel.forEachSlice(
            slices,
            DepthwiseRowGradients(
                gradient: gradient, x: x, filters: filters, g: g, slices: slices, partials: partials, buffers: buffers,
                dx: dx))
    } else {
        Parallel.forEachRange(
            of: g.batch, slices: slices,
            DepthwiseGradients(
                gradient: gradient, x: x, filters: filters, g: g, partials: partials, buffers: buffers, dx: dx))
    }
    for slice in 0..<slices {
        let sums = partials + slice * block, biasSums = sums + taps * row
        for tap in 0..<taps {
            for column in 0..<columns {
                let from = sums + tap * row + column * C, to = dw + tap * C
                for c in 0..<C { to[c] += from[c] }
            }
        }
        if let dbias { for c in 0..<C { dbias[c] += biasSums[c] } }
    }
}

/// One image slice of `depthwiseBackward`: per image, dy into the slice's image buffer, its sums into
/// the slice's block of `partials`, then dx.
private struct DepthwiseGradients: RangeJob {
    let gradient: DepthwiseOutputGradient, x: UnsafePointer<Float>, filters: UnsafePointer<Float>, g: WindowGeometry
    let partials: UnsafeMutablePointer<Float>, buffers: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?

    func run(range images: Range<Int>, slice: Int) {
        let C = g.channels, taps = g.kernel * g.kernel, pixels = g.outputHeight * g.outputWidth
        let outputFloats = pixels * C, inputFloats = g.height * g.width * C
        let row = (g.stride == 1 ? g.outputWidth : 1) * C, block = weightGradientBlock(g)
        let sums = partials + slice * block, biasSums = sums + taps * row
        sums.update(repeating: 0, count: block)
        for n in images {
            let dy = gradient.image(n, rows: pixels, channels: C, scratch: buffers + slice * outputFloats)
            let xn = x + n * inputFloats
            for p in stride(from: 0, to: outputFloats, by: C) {
                let d = dy + p
                for c in 0..<C { biasSums[c] += d[c] }
            }
            // Offsets within one image (image 0 of the runs), as dy is this image's alone.
            forEachTapRun(g, rows: 0..<g.outputHeight) { output, input, weights, count in
                let o = sums + weights, dr = dy + output, xr = xn + input
                for j in 0..<count { o[j] += dr[j] * xr[j] }
            }
            guard let dx else { continue }
            let dxn = dx + n * inputFloats
            dxn.update(repeating: 0, count: inputFloats)
            forEachTapRun(g, rows: 0..<g.outputHeight) { output, input, weights, count in
                let o = dxn + input, dr = dy + output, wr = filters + weights
                for j in 0..<count { o[j] += dr[j] * wr[j] }
            }
        }
    }
}

/// One slice of `depthwiseBackward` cut into rows (stride 1): the weight-gradient sums over the
/// slice's share of the batch's output rows, and the input gradient of its share of the input rows.
/// Per image it first makes dy for the output rows either needs (its own, and the K − 1 around the
/// input rows that read beyond them) in its buffer. Each input row gathers its output rows in
/// ascending order, tap columns in order within each: the additions, and so the bits, of the
/// image-by-image pass, which scatters each output row into the input rows it reads.
private struct DepthwiseRowGradients: SliceJob {
    let gradient: DepthwiseOutputGradient, x: UnsafePointer<Float>, filters: UnsafePointer<Float>, g: WindowGeometry
    let slices: Int, partials: UnsafeMutablePointer<Float>, buffers: UnsafeMutablePointer<Float>
    let dx: UnsafeMutablePointer<Float>?

    func run(slice: Int) {
        let (H, W, C, K, P) = (g.height, g.width, g.channels, g.kernel, g.padding)
        let HO = g.outputHeight, WO = g.outputWidth, row = WO * C, taps = K * K
        let sums = partials + slice * weightGradientBlock(g), biasSums = sums + taps * row
        let buffer = buffers + slice * HO * row
        sums.update(repeating: 0, count: weightGradientBlock(g))
        let outputs = Parallel.range(slice, of: slices, count: g.batch * HO)
        let inputs = Parallel.range(slice, of: slices, count: g.batch * H)
        if outputs.isEmpty && inputs.isEmpty { return }
        let first = min(outputs.isEmpty ? g.batch : outputs.lowerBound / HO, inputs.isEmpty ? g.batch : inputs.lowerBound / H)
        let last = max(outputs.isEmpty ? 0 : (outputs.upperBound - 1) / HO, inputs.isEmpty ? 0 : (inputs.upperBound - 1) / H)
        for n in first...last {
            // This slice's output rows and input rows of image n, then the output rows dy is needed for.
            let own = outputs.clamped(to: (n * HO)..<((n + 1) * HO)), read = inputs.clamped(to: (n * H)..<((n + 1) * H))
            let ownRows = (own.lowerBound - n * HO)..<(own.upperBound - n * HO)
            let readRows = (read.lowerBound - n * H)..<(read.upperBound - n * H)
            var needed = ownRows
            if dx != nil, !readRows.isEmpty {
                let reach = (readRows.lowerBound + P - K + 1)..<(readRows.upperBound + P)
                if !needed.isEmpty {
                    needed = min(needed.lowerBound, reach.lowerBound)..<max(needed.upperBound, reach.upperBound)
                } else {
                    needed = reach
                }
                needed = needed.clamped(to: 0..<HO)
            }
            if needed.isEmpty {
                // No output row to sum or to read (at stride 1 every input row is read by one).
                for iy in readRows { dx?.advanced(by: (n * H + iy) * W * C).update(repeating: 0, count: W * C) }
                continue
            }
            let dy = gradient.rows(
                ((n * HO + needed.lowerBound) * WO)..<((n * HO + needed.upperBound) * WO), channels: C, scratch: buffer)
            // dy's output row oy of image n.
            func dyRow(_ oy: Int) -> UnsafePointer<Float> { dy + (oy - needed.lowerBound) * row }
            let xn = x + n * H * W * C
            for oy in ownRows {
                let d = dyRow(oy)
                for p in stride(from: 0, to: row, by: C) {
                    for c in 0..<C { biasSums[c] += d[p + c] }
                }
                for ky in g.tapRows(atOutputRow: oy) {
                    let input = xn + (oy - P + ky) * W * C
                    for kx in 0..<K {
                        let columns = g.outputColumns(readingTapColumn: kx), first = columns.lowerBound
                        if columns.isEmpty { continue }
                        let o = sums + (ky * K + kx) * row + first * C, dr = d + first * C, xr = input + (first - P + kx) * C
                        for j in 0..<(columns.count * C) { o[j] += dr[j] * xr[j] }
                    }
                }
            }
            guard let dx else { continue }
            for iy in readRows {
                let out = dx + (n * H + iy) * W * C
                out.update(repeating: 0, count: W * C)
                // Output rows reading input row iy, ascending: oy = iy + P − ky for ky from K − 1 down.
                for ky in stride(from: K - 1, through: 0, by: -1) {
                    let oy = iy + P - ky
                    guard oy >= 0, oy < HO else { continue }
                    let d = dyRow(oy)
                    for kx in 0..<K {
                        let columns = g.outputColumns(readingTapColumn: kx), first = columns.lowerBound
                        if columns.isEmpty { continue }
                        let o = out + (first - P + kx) * C, dr = d + first * C, wr = filters + (ky * K + kx) * row + first * C
                        for j in 0..<(columns.count * C) { o[j] += dr[j] * wr[j] }
                    }
                }
            }
        }
    }
}

/// The filters as `forEachTapRun` indexes them: at stride 1 tiled across an output row into
/// `scratch`, otherwise `w` itself.
private func depthwiseFilters(
    _ w: UnsafePointer<Float>, _ g: WindowGeometry,
    scratch: UnsafeMutablePointer<Float>
) -> UnsafePointer<Float> {
    guard g.stride == 1 else { return w }
    tileWeights(w, g, into: scratch)
    return UnsafePointer(scratch)
}

/// Calls `body(output, input, weights, count)` for every run of `count` floats over which an output,
/// the input a tap reads and the tap's weights advance together, for the taps inside the image: at
/// stride 1 a whole output row against the tiled weights (`forEachStride1TapRow`, weights `[K·K][WO·C]`),
/// otherwise one pixel's C channels (`forEachTap`, weights `[K·K][C]`).
@inline(__always)
private func forEachTapRun(_ g: WindowGeometry, rows: Range<Int>, _ body: (Int, Int, Int, Int) -> Void) {
    if g.stride == 1 {
        forEachStride1TapRow(g, rows: rows, body)
    } else {
        forEachTap(g, rows: rows) { body($0, $1, $2, g.channels) }
    }
}

/// Fills `tiled` with each tap's weights repeated across an output row: `[K·K][WO·C]`.
private func tileWeights(_ w: UnsafePointer<Float>, _ g: WindowGeometry, into tiled: UnsafeMutablePointer<Float>) {
    let C = g.channels, row = g.outputWidth * C
    for tap in 0..<(g.kernel * g.kernel) {
        for ox in 0..<g.outputWidth { (tiled + tap * row + ox * C).update(from: w + tap * C, count: C) }
    }
}

/// At stride 1, calls `body(output, input, weights, count)` for every output row in `rows` (rows of
/// the whole batch, n·HO + oy) and every tap that reads inside the image: `count` consecutive floats
/// of the output row (from offset `output`) pair with as many of the input row (from `input`) and of
/// the tiled weights (from `weights`).
@inline(__always)
private func forEachStride1TapRow(_ g: WindowGeometry, rows: Range<Int>, _ body: (Int, Int, Int, Int) -> Void) {
    let (H, W, C, K, P) = (g.height, g.width, g.channels, g.kernel, g.padding)
    let HO = g.outputHeight, WO = g.outputWidth, row = WO * C
    for r in rows {
        let n = r / HO, oy = r - n * HO
        for ky in g.tapRows(atOutputRow: oy) {
            let iy = oy - P + ky
            for kx in 0..<K {
                let columns = g.outputColumns(readingTapColumn: kx), first = columns.lowerBound
                if columns.isEmpty { continue }
                body(
                    r * row + first * C, ((n * H + iy) * W + first - P + kx) * C,
                    (ky * K + kx) * row + first * C, columns.count * C)
            }
        }
    }
}

/// At any stride, calls `body(output, input, weights)` for every output pixel of the output rows
/// `rows` (n·HO + oy) and every tap that reads inside the image: the offsets of C floats of the
/// output, of the input pixel the tap reads, and of the tap's weights.
@inline(__always)
private func forEachTap(_ g: WindowGeometry, rows: Range<Int>, _ body: (Int, Int, Int) -> Void) {
    let (H, W, C, K, S, P) = (g.height, g.width, g.channels, g.kernel, g.stride, g.padding)
    let HO = g.outputHeight, WO = g.outputWidth
    for r in rows {
        let n = r / HO, oy = r - n * HO
        for ox in 0..<WO {
            let output = (r * WO + ox) * C, columns = g.tapColumns(atOutputColumn: ox)
            for ky in g.tapRows(atOutputRow: oy) {
                let iy = oy * S - P + ky
                for kx in columns { body(output, ((n * H + iy) * W + ox * S - P + kx) * C, (ky * K + kx) * C) }
            }
        }
    }
}
