// A standard convolution over NHWC activations lowered to im2row + GEMM (`Im2Row.swift`).
//
// Dimension legend:
//   N batch, O output channels, R = HO·WO column rows per image, K = KH·KW·C columns (one receptive
//   field), W the weights [O × K] (OHWI), X̂ a block of the column matrix [rows × K].
//   forward  Y = X̂ · Wᵀ              backward  dW += dYᵀ · X̂,  dX̂ = dY · W, folded back by row2im;
//   at stride 1 in the sliced mode instead dX = im2row(dY) · W̃ᵀ with the flipped filters W̃ (a
//   convolution of dy with padding K − 1 − P): a GEMM of the forward's shape writes dx directly,
//   where dY · W has an inner extent of only O and row2im adds its 9× larger result back.
//
// Two ways to cut the batch, chosen by `ColumnPlan`:
// - sliced, when the outputs are few and the weights small (the baselines' early layers, SeedNet's
//   32→32), so that im2row is a large part of the work: the batch is cut into image slices run on
//   `Parallel`'s threads, each walking its images in blocks whose column matrix stays in cache
//   (im2row, then a single-threaded GEMM that reads it straight back). Each slice sums its weight
//   gradient into its own partial and the partials are added in slice order, so results do not
//   depend on the thread count. Materialising the whole batch's column matrix instead (9× the input,
//   written and read back through memory) cost a third of these layers' time.
// - chunked, when there are many outputs or one partial would be too large (deep layers: K·O in the
//   millions, few rows per image): chunks of images as large as `maxColumnFloats` allows, im2row and
//   row2im split over images, and each GEMM cut into bands over the threads by `BLAS.gemm`.
// A 1×1 convolution with stride 1 and no padding skips im2row: the input is its own column matrix.

/// How a column convolution cuts its batch, and the scratch it needs.
struct ColumnPlan {
    /// Rows of a block aimed at in the sliced mode: enough for the GEMM to amortise packing W.
    static let targetBlockRows = 256
    /// Column floats per block aimed at in the sliced mode (512 KiB: within L2 next to the GEMM's panels).
    static let targetBlockFloats = 1 << 17
    /// The most weight-gradient partials (each K·O floats) the sliced mode may hold, in floats.
    static let partialBudget = 1 << 22
    /// Output channels up to which the sliced mode is used: with more, im2row is a small part of
    /// each row's work and whole-batch GEMMs in bands run faster.
    static let slicedMaximumOutputs = 128

    let geometry: WindowGeometry
    let outputChannels: Int
    /// Image slices with their own column block and weight-gradient partial; 1 means chunked.
    let slices: Int
    /// Images per im2row + GEMM block (per slice when sliced, per chunk when chunked).
    let blockImages: Int
    /// When sliced at stride 1: the window over dy whose convolution with the flipped filters is dx
    /// (padding K − 1 − P), so dx comes from one more im2row + GEMM instead of dX̂ and row2im.
    let transposed: WindowGeometry?

    var rowsPerImage: Int { geometry.outputHeight * geometry.outputWidth }
    var columnWidth: Int { geometry.kernel * geometry.kernel * geometry.channels }
    /// 1×1, stride 1, no padding: the input is its own column matrix.
    var isIdentity: Bool { geometry.kernel == 1 && geometry.stride == 1 && geometry.padding == 0 }
    var isSliced: Bool { slices > 1 }
    private var blockFloats: Int { isIdentity ? 0 : blockImages * Self.imageColumnFloats(geometry, transposed: transposed) }
    private var partialFloats: Int { isSliced ? outputChannels * columnWidth : 0 }
    private var flippedFloats: Int { transposed == nil ? 0 : outputChannels * columnWidth }

    /// Plans a convolution over `g` with `outputChannels` filters whose column buffers together hold
    /// at most `maxColumnFloats` floats (but always at least one image's).
    init(_ g: WindowGeometry, outputChannels O: Int, maxColumnFloats: Int) {
        geometry = g
        outputChannels = O
        let R = g.outputHeight * g.outputWidth, K = g.kernel * g.kernel * g.channels
        let imageColumns = max(1, R * K)
        var s = Parallel.sliceCount(g.batch * R * K * O, grain: BLAS.splitGrain)
        s = min(s, g.batch, Self.partialBudget / max(1, O * K), maxColumnFloats / imageColumns)
        if O > Self.slicedMaximumOutputs { s = 1 }
        slices = max(1, s)
        let flippable = slices > 1 && g.stride == 1 && !(g.kernel == 1 && g.padding == 0)
        transposed = flippable ? g.inputGradientWindow(outputChannels: O) : nil
        if slices > 1 {
            let wanted = max(Self.targetBlockRows, Self.targetBlockFloats / max(1, K))
            let perSlice = (g.batch + slices - 1) / slices
            let perImage = max(1, Self.imageColumnFloats(g, transposed: transposed))
            blockImages = max(1, min((wanted + R - 1) / R, perSlice, maxColumnFloats / (slices * perImage)))
        } else {
            blockImages = max(1, min(g.batch, maxColumnFloats / imageColumns))
        }
    }

    /// Floats of one image's rows in a column block: its input's column rows, or dy's when the input
    /// gradient takes the flipped filters (`transposed`) and those are more.
    private static func imageColumnFloats(_ g: WindowGeometry, transposed: WindowGeometry?) -> Int {
        let input = g.outputHeight * g.outputWidth * g.kernel * g.kernel * g.channels
        guard let t = transposed else { return input }
        return max(input, t.outputHeight * t.outputWidth * t.kernel * t.kernel * t.channels)
    }

    /// Floats of scratch: one column block per slice, one weight-gradient partial per slice, then
    /// the flipped filters.
    var scratchCount: Int { slices * (blockFloats + partialFloats) + flippedFloats }

    func flipped(_ scratch: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        scratch + slices * (blockFloats + partialFloats)
    }

    func columns(_ scratch: UnsafeMutablePointer<Float>, slice: Int) -> UnsafeMutablePointer<Float> {
        scratch + slice * blockFloats
    }

    func partial(_ scratch: UnsafeMutablePointer<Float>, slice: Int) -> UnsafeMutablePointer<Float> {
        scratch + slices * blockFloats + slice * partialFloats
    }

    /// Runs `body(first, count)` over consecutive blocks of at most `blockImages` images in `images`.
    func forEachBlock(in images: Range<Int>, _ body: (Int, Int) -> Void) {
        var first = images.lowerBound
        while first < images.upperBound {
            let count = min(blockImages, images.upperBound - first)
            body(first, count)
            first += count
        }
    }
}

/// y = conv(x, w) without bias: `[N·R × O]` from x NHWC and w `[O × K]`. `scratch` holds
/// `plan.scratchCount` floats.
func columnConvForward(
    _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ plan: ColumnPlan,
    _ y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
) {
    let forward = ColumnConvForward(x: x, w: w, plan: plan, y: y, scratch: scratch)
    guard plan.isSliced else {
        plan.forEachBlock(in: 0..<plan.geometry.batch) { first, count in forward.block(first, count, scratch, parallel: true) }
        return
    }
    Parallel.forEachRange(of: plan.geometry.batch, slices: plan.slices, forward)
}

/// The forward pass block by block; as a job, one slice of images into the slice's column buffer.
private struct ColumnConvForward: RangeJob {
    let x: UnsafePointer<Float>, w: UnsafePointer<Float>, plan: ColumnPlan, y: UnsafeMutablePointer<Float>
    let scratch: UnsafeMutablePointer<Float>

    /// Images `first..<first + count`: lowered into `columns` (unless x is its own column matrix),
    /// times wᵀ; with `parallel`, both steps on all threads, else on this one.
    func block(_ first: Int, _ count: Int, _ columns: UnsafeMutablePointer<Float>, parallel: Bool) {
        let O = plan.outputChannels, R = plan.rowsPerImage, K = plan.columnWidth
        let col: UnsafePointer<Float>
        if plan.isIdentity {
            col = x + first * R * K
        } else {
            parallel
                ? im2rowInParallel(x, plan.geometry, images: first, count: count, into: columns)
                : im2row(x, plan.geometry, images: first, count: count, into: columns)
            col = UnsafePointer(columns)
        }
        BLAS.gemm(transposeB: true, m: count * R, n: O, k: K, a: col, b: w, c: y + first * R * O, onThisThread: !parallel)
    }

    func run(range images: Range<Int>, slice: Int) {
        let columns = plan.columns(scratch, slice: slice)
        plan.forEachBlock(in: images) { first, count in block(first, count, columns, parallel: false) }
    }
}

/// dw += Σ dYᵀ · X̂ and, unless `dx` is nil, dx = row2im(dY · W) or im2row(dY) · W̃ᵀ (overwritten).
/// `scratch` holds `plan.scratchCount` floats.
func columnConvBackward(
    _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
    _ plan: ColumnPlan, _ dw: UnsafeMutablePointer<Float>, _ dx: UnsafeMutablePointer<Float>?,
    scratch: UnsafeMutablePointer<Float>
) {
    let g = plan.geometry, O = plan.outputChannels, K = plan.columnWidth
    let backward = ColumnConvBackward(dy: dy, x: x, w: w, plan: plan, dx: dx, scratch: scratch)
    guard plan.isSliced else {
        plan.forEachBlock(in: 0..<g.batch) { first, count in
            backward.block(first, count, scratch, dweight: dw, beta: 1, parallel: true)
        }
        return
    }
    if dx != nil && plan.transposed != nil {
        flipFilters(w, g, outputChannels: O, transposed: false, into: plan.flipped(scratch))
    }
    Parallel.forEachRange(of: g.batch, slices: plan.slices, backward)
    // dw += the partials, in slice order, element ranges on the threads.
    Parallel.forEachRange(count: O * K, grain: elementGrain, AddPartials(plan: plan, scratch: scratch, dw: dw))
}

/// The backward pass block by block; as a job, one slice of images into the slice's column buffer
/// and its own partial weight gradient.
private struct ColumnConvBackward: RangeJob {
    let dy: UnsafePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>, plan: ColumnPlan
    let dx: UnsafeMutablePointer<Float>?, scratch: UnsafeMutablePointer<Float>

    /// Images `first..<first + count`: the weight gradient into `dweight` (scaled by `beta` first),
    /// then dX̂ into the column buffer (or straight into dx when the input is its own column matrix),
    /// folded into dx; with `parallel`, every step on all threads, else on this one.
    func block(
        _ first: Int, _ count: Int, _ columns: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>,
        beta: Float, parallel: Bool
    ) {
        let g = plan.geometry, O = plan.outputChannels, R = plan.rowsPerImage, K = plan.columnWidth
        let rows = count * R, dyBlock = dy + first * R * O
        let col: UnsafePointer<Float>
        if plan.isIdentity {
            col = x + first * R * K
        } else {
            parallel
                ? im2rowInParallel(x, g, images: first, count: count, into: columns)
                : im2row(x, g, images: first, count: count, into: columns)
            col = UnsafePointer(columns)
        }
        BLAS.gemm(transposeA: true, m: O, n: K, k: rows, a: dyBlock, b: col, beta: beta, c: dweight, onThisThread: !parallel)
        guard let dx else { return }
        if let t = plan.transposed {
            // dx = im2row(dy) · W̃ᵀ, the flipped filters W̃ [C × K·K·O].
            let inputRows = count * g.height * g.width
            im2row(dy, t, images: first, count: count, into: columns)
            BLAS.gemm(
                transposeB: true, m: inputRows, n: g.channels, k: t.kernel * t.kernel * O, a: columns,
                b: plan.flipped(scratch), c: dx + first * g.height * g.width * g.channels, onThisThread: true)
            return
        }
        if plan.isIdentity {
            BLAS.gemm(m: rows, n: K, k: O, a: dyBlock, b: w, c: dx + first * R * K, onThisThread: !parallel)
            return
        }
        BLAS.gemm(m: rows, n: K, k: O, a: dyBlock, b: w, c: columns, onThisThread: !parallel)
        parallel
            ? row2imInParallel(columns, g, images: first, count: count, into: dx)
            : row2im(columns, g, images: first, count: count, into: dx)
    }

    func run(range images: Range<Int>, slice: Int) {
        let columns = plan.columns(scratch, slice: slice), partial = plan.partial(scratch, slice: slice)
        var beta: Float = 0
        plan.forEachBlock(in: images) { first, count in
            block(first, count, columns, dweight: partial, beta: beta, parallel: false)
            beta = 1
        }
    }
}

/// dw[i] += each slice's partial weight gradient, in slice order.
private struct AddPartials: RangeJob {
    let plan: ColumnPlan, scratch: UnsafeMutablePointer<Float>, dw: UnsafeMutablePointer<Float>

    func run(range: Range<Int>, slice: Int) {
        for slice in 0..<plan.slices {
            let partial = plan.partial(scratch, slice: slice)
            for i in range { dw[i] += partial[i] }
        }
    }
}
