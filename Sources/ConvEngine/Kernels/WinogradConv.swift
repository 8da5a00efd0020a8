// Winograd F(2×2, 3×3) convolution over NHWC activations, for 3×3 windows at stride 1.
//
// Dimension legend:
//   N batch, H W input height and width, C input channels, O output channels, P padding,
//   HO WO output height and width, TH TW tiles down and across (2×2 outputs each), T = N·TH·TW tiles,
//   ξ = (a, b) one of the 16 points of a 4×4 tile.
// Each 2×2 block of outputs reads a 4×4 input tile d; with the filter g of an (output, input) channel
// pair, Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A. Summed over input channels, the elementwise product becomes
// 16 independent GEMMs, one per point ξ:  M[ξ] (T × O) = V[ξ] (T × C) · U[ξ] (C × O), with
// V = Bᵀ d B the transformed input tiles and U = G g Gᵀ the transformed filters (stored transposed,
// [ξ][O][C], so that they are written along C); then Y = Aᵀ M A.
// That is 16 multiply-adds per 4 outputs instead of 36: 2.25× fewer. The transforms are additions
// over the channel vectors of NHWC pixels, so they vectorise across channels.
// Backward: dx is the same convolution of dy (padding 2 − P) with the flipped filters; the weight
// gradient is dUᵀ[ξ] (O × C) = (A dY Aᵀ)[ξ]ᵀ · V[ξ] summed over tiles, and dg = Gᵀ dU G. Backward
// transforms x again instead of keeping the forward's V, which is 4× the input and would have to live
// in the arena from forward to backward for every such layer; the transform is a small part of a pass.
// The 16 GEMMs of a pass run on `Parallel`'s threads, each single-threaded; the transforms over
// slices of tiles. Used for 3×3 windows at stride 1 over 64 or more channels (`ConvolutionPolicy`).

/// The scratch of one chunk: transformed inputs V, products (or output gradients) M, transformed
/// filters (or their gradient) U, and a row of zeros.
private typealias WinogradRegions = (
    v: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>,
    u: UnsafeMutablePointer<Float>, zeros: UnsafePointer<Float>
)

/// How a Winograd convolution is laid out, and the scratch it needs.
///
/// The batch goes through in chunks of `chunkImages` images, so that the transformed tiles stay
/// within a cap on scratch; the weight gradient is summed over the chunks in the transformed domain.
struct WinogradPlan {
    /// The forward window (3×3, stride 1).
    let geometry: WindowGeometry
    let outputChannels: Int
    /// The window over dy whose convolution with the flipped filters is dx (padding 2 − P).
    let transposed: WindowGeometry
    /// Images per chunk.
    let chunkImages: Int

    /// Plans the convolution over a 3×3 window at stride 1 with at most `maxFloats` floats of scratch.
    ///
    /// - Returns: nil when even one image's tiles and the transformed filters would not fit.
    init?(_ g: WindowGeometry, outputChannels O: Int, maxFloats: Int) {
        guard g.kernel == 3 && g.stride == 1 else { return nil }
        geometry = g
        outputChannels = O
        let t = g.inputGradientWindow(outputChannels: O)
        transposed = t
        let image = Self.imageFloats(g, t, outputChannels: O), room = maxFloats - Self.fixedFloats(g, outputChannels: O)
        guard room >= image else { return nil }
        chunkImages = min(g.batch, room / image)
    }

    /// Tiles of 2×2 outputs for a window, over its whole batch.
    static func tiles(_ g: WindowGeometry) -> Int { g.batch * tilesPerImage(g) }

    static func tilesPerImage(_ g: WindowGeometry) -> Int { ((g.outputHeight + 1) / 2) * ((g.outputWidth + 1) / 2) }

    /// Floats one image needs: its transformed inputs and products (or output gradients), in the
    /// larger of the forward (`g`) and dx (`t`) convolutions.
    private static func imageFloats(_ g: WindowGeometry, _ t: WindowGeometry, outputChannels O: Int) -> Int {
        16 * (g.channels + O) * max(tilesPerImage(g), tilesPerImage(t))
    }

    /// Floats whatever the chunk: the transformed filters (or their gradient) and a row of zeros.
    private static func fixedFloats(_ g: WindowGeometry, outputChannels O: Int) -> Int {
        16 * g.channels * O + max(g.channels, O)
    }

    /// Floats of scratch for one image at a time: less than this, and there is no plan.
    var minimumScratchCount: Int { imageFloats + fixedFloats }
    private var imageFloats: Int { Self.imageFloats(geometry, transposed, outputChannels: outputChannels) }
    private var fixedFloats: Int { Self.fixedFloats(geometry, outputChannels: outputChannels) }

    /// Floats of scratch.
    var scratchCount: Int { chunkImages * imageFloats + fixedFloats }

    /// Runs `body(first, count)` over the chunks of the batch.
    func forEachChunk(_ body: (Int, Int) -> Void) {
        for first in stride(from: 0, to: geometry.batch, by: chunkImages) {
            body(first, min(chunkImages, geometry.batch - first))
        }
    }

    /// The transformed filters (or their gradient) in scratch.
    fileprivate func filters(_ scratch: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        scratch + chunkImages * imageFloats
    }

    /// The regions of scratch for `tiles` tiles of a convolution over C input channels: the inputs'
    /// transform V, the products M, the filters' transform U, and zeros.
    fileprivate func regions(_ scratch: UnsafeMutablePointer<Float>, tiles T: Int, inputs C: Int) -> WinogradRegions {
        let u = filters(scratch), zeros = u + 16 * geometry.channels * outputChannels
        zeros.update(repeating: 0, count: max(geometry.channels, outputChannels))
        return (scratch, scratch + 16 * T * C, u, UnsafePointer(zeros))
    }
}

/// Floats below which a transform pass is not split over threads.
private let winogradGrain = 1 << 16

/// `g` restricted to `count` images.
private func chunk(_ g: WindowGeometry, _ count: Int) -> WindowGeometry {
    var c = g
    c.batch = count
    return c
}

/// y = conv(x, w) without bias, y `[N, HO, WO, O]` from x NHWC and w `[O, 3, 3, C]`.
func winogradConvForward(
    _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ plan: WinogradPlan,
    _ y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
) {
    let g = plan.geometry, O = plan.outputChannels, C = g.channels
    transformFilters(w, outputs: O, inputs: C, flipped: false, into: plan.filters(scratch))
    plan.forEachChunk { first, count in
        let gc = chunk(g, count)
        winogradConvolve(
            x + first * g.height * g.width * C, gc, outputs: O, filtersTransposed: true,
            plan.regions(scratch, tiles: WinogradPlan.tiles(gc), inputs: C),
            y + first * g.outputHeight * g.outputWidth * O)
    }
}

/// dw += the weight gradient and, unless `dx` is nil, dx = the input gradient (overwritten).
func winogradConvBackward(
    _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
    _ plan: WinogradPlan, _ dw: UnsafeMutablePointer<Float>, _ dx: UnsafeMutablePointer<Float>?,
    scratch: UnsafeMutablePointer<Float>
) {
    let g = plan.geometry, O = plan.outputChannels, C = g.channels
    let (inputFloats, outputFloats) = (g.height * g.width * C, g.outputHeight * g.outputWidth * O)
    if let dx {
        // The transposed convolution's filters, [ξ][o][c]: inputs o, outputs c, used untransposed.
        let t = plan.transposed
        transformFilters(w, outputs: O, inputs: C, flipped: true, into: plan.filters(scratch))
        plan.forEachChunk { first, count in
            let tc = chunk(t, count)
            winogradConvolve(
                dy + first * outputFloats, tc, outputs: C, filtersTransposed: false,
                plan.regions(scratch, tiles: WinogradPlan.tiles(tc), inputs: O), dx + first * inputFloats)
        }
    }
    // dUᵀ[ξ] (O × C) = Σ over chunks of Mg[ξ]ᵀ · V[ξ] with Mg = A dY Aᵀ, then dg = Gᵀ dU G.
    var beta: Float = 0
    plan.forEachChunk { first, count in
        let gc = chunk(g, count), T = WinogradPlan.tiles(gc)
        let r = plan.regions(scratch, tiles: T, inputs: C)
        transformInputTiles(x + first * inputFloats, gc, zeros: r.zeros, into: r.v)
        transformOutputGradients(dy + first * outputFloats, gc, outputs: O, zeros: r.zeros, into: r.m)
        Parallel.forEachSlice(16, PointFilterGradients(r: r, O: O, C: C, T: T, beta: beta))
        beta = 1
    }
    accumulateFilterGradient(plan.filters(scratch), outputs: O, inputs: C, into: dw)
}

/// The forward pass of a 3×3 stride-1 window `g` with `outputs` filters already transformed in r.u,
/// laid `[ξ][outputs][C]` (`filtersTransposed`) or `[ξ][C][outputs]`.
private func winogradConvolve(
    _ x: UnsafePointer<Float>, _ g: WindowGeometry, outputs O: Int, filtersTransposed: Bool,
    _ r: WinogradRegions, _ y: UnsafeMutablePointer<Float>
) {
    let C = g.channels, T = WinogradPlan.tiles(g)
    transformInputTiles(x, g, zeros: r.zeros, into: r.v)
    Parallel.forEachSlice(16, PointProducts(r: r, O: O, C: C, T: T, filtersTransposed: filtersTransposed))
    transformProducts(r.m, g, outputs: O, into: y)
}

/// M[ξ] = V[ξ] · U[ξ] for each of the 16 points ξ, one single-threaded sgemm per slice.
private struct PointProducts: SliceJob {
    let r: WinogradRegions, O: Int, C: Int, T: Int, filtersTransposed: Bool

    func run(slice point: Int) {
        BLAS.gemm(
            transposeB: filtersTransposed, m: T, n: O, k: C, a: r.v + point * T * C, b: r.u + point * C * O,
            c: r.m + point * T * O, onThisThread: true)
    }
}

/// dUᵀ[ξ] = Mg[ξ]ᵀ · V[ξ] (+ `beta` · dUᵀ[ξ]) for each of the 16 points ξ, one sgemm per slice.
private struct PointFilterGradients: SliceJob {
    let r: WinogradRegions, O: Int, C: Int, T: Int, beta: Float

    func run(slice point: Int) {
        BLAS.gemm(
            transposeA: true, m: O, n: C, k: T, a: r.m + point * T * O, b: r.v + point * T * C,
            beta: beta, c: r.u + point * O * C, onThisThread: true)
    }
}

/// Runs `job` over slices of the tiles of a window, t = (n·TH + i)·TW + j.
private func forEachTileRange<Job: RangeJob>(_ g: WindowGeometry, floatsPerTile: Int, _ job: Job) {
    let T = WinogradPlan.tiles(g)
    Parallel.forEachRange(of: T, slices: Parallel.itemSliceCount(T, workPerItem: floatsPerTile, grain: winogradGrain), job)
}

/// Runs `body(c, lanes)` over `count` channels, eight at a time, then the last few together.
@inline(__always) private func forEachLanes(_ count: Int, _ body: (Int, Int) -> Void) {
    var c = 0
    while c + 8 <= count {
        body(c, 8)
        c += 8
    }
    if c < count { body(c, count - c) }
}

@inline(__always) private func load(_ p: UnsafePointer<Float>, _ lanes: Int) -> SIMD8<Float> {
    if lanes == 8 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }
    var v = SIMD8<Float>()
    for l in 0..<lanes { v[l] = p[l] }
    return v
}

@inline(__always) private func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
    if lanes == 8 {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
        return
    }
    for l in 0..<lanes { p[l] = v[l] }
}

/// Bᵀ x for a column (or row) of four: Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1].
@inline(__always) private func bt(_ x0: SIMD8<Float>, _ x1: SIMD8<Float>, _ x2: SIMD8<Float>, _ x3: SIMD8<Float>)
    -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
{ (x0 - x2, x1 + x2, x2 - x1, x1 - x3) }

/// Aᵀ x: Aᵀ = [1 1 1 0; 0 1 −1 −1].
@inline(__always) private func at(_ x0: SIMD8<Float>, _ x1: SIMD8<Float>, _ x2: SIMD8<Float>, _ x3: SIMD8<Float>)
    -> (SIMD8<Float>, SIMD8<Float>)
{ (x0 + x1 + x2, x1 - x2 - x3) }

/// A x: A = [1 0; 1 1; 1 −1; 0 −1].
@inline(__always) private func a(_ x0: SIMD8<Float>, _ x1: SIMD8<Float>)
    -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
{ (x0, x0 + x1, x0 - x1, SIMD8<Float>() - x1) }

/// G x: G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1].
@inline(__always) private func gx(_ x0: SIMD8<Float>, _ x1: SIMD8<Float>, _ x2: SIMD8<Float>)
    -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
{
    let even = (x0 + x2) * 0.5, odd = x1 * 0.5
    return (x0, even + odd, even - odd, x2)
}

/// Gᵀ x: the adjoint of `gx`.
@inline(__always) private func gtx(_ x0: SIMD8<Float>, _ x1: SIMD8<Float>, _ x2: SIMD8<Float>, _ x3: SIMD8<Float>)
    -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
{
    let sum = (x1 + x2) * 0.5
    return (x0 + sum, (x1 - x2) * 0.5, sum + x3)
}

/// Stores the four values of `r` at p, p + stride, p + 2·stride, p + 3·stride.
@inline(__always) private func store4(
    _ r: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>),
    _ p: UnsafeMutablePointer<Float>, stride: Int, _ lanes: Int
) {
    store(r.0, p, lanes)
    store(r.1, p + stride, lanes)
    store(r.2, p + 2 * stride, lanes)
    store(r.3, p + 3 * stride, lanes)
}

/// V[ξ][t][c] = (Bᵀ d B)[ξ] for every tile t of x, d its 4×4 input pixels (zero outside the image).
private func transformInputTiles(
    _ x: UnsafePointer<Float>, _ g: WindowGeometry, zeros: UnsafePointer<Float>,
    into v: UnsafeMutablePointer<Float>
) {
    forEachTileRange(g, floatsPerTile: 32 * g.channels, InputTileTransform(x: x, g: g, zeros: zeros, v: v))
}

/// Tiles of `transformInputTiles`.
private struct InputTileTransform: RangeJob {
    let x: UnsafePointer<Float>, g: WindowGeometry, zeros: UnsafePointer<Float>, v: UnsafeMutablePointer<Float>

    func run(range tiles: Range<Int>, slice: Int) {
        let (H, W, C, P) = (g.height, g.width, g.channels, g.padding)
        let TH = (g.outputHeight + 1) / 2, TW = (g.outputWidth + 1) / 2, T = WinogradPlan.tiles(g), plane = T * C
        withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: 16) { d in
            for t in tiles {
                let n = t / (TH * TW), i = t / TW % TH, j = t % TW
                for a in 0..<4 {
                    for b in 0..<4 {
                        let row = 2 * i - P + a, column = 2 * j - P + b
                        let inside = row >= 0 && row < H && column >= 0 && column < W
                        d[a * 4 + b] = inside ? x + ((n * H + row) * W + column) * C : zeros
                    }
                }
                let out = v + t * C
                forEachLanes(C) { c, lanes in
                    // Bᵀ down each column of the tile, then along each row: V[a][·] = Bᵀ (e[a][0…3]).
                    let e0 = bt(load(d[0] + c, lanes), load(d[4] + c, lanes), load(d[8] + c, lanes), load(d[12] + c, lanes))
                    let e1 = bt(load(d[1] + c, lanes), load(d[5] + c, lanes), load(d[9] + c, lanes), load(d[13] + c, lanes))
                    let e2 = bt(load(d[2] + c, lanes), load(d[6] + c, lanes), load(d[10] + c, lanes), load(d[14] + c, lanes))
                    let e3 = bt(load(d[3] + c, lanes), load(d[7] + c, lanes), load(d[11] + c, lanes), load(d[15] + c, lanes))
                    store4(bt(e0.0, e1.0, e2.0, e3.0), out + c, stride: plane, lanes)
                    store4(bt(e0.1, e1.1, e2.1, e3.1), out + 4 * plane + c, stride: plane, lanes)
                    store4(bt(e0.2, e1.2, e2.2, e3.2), out + 8 * plane + c, stride: plane, lanes)
                    store4(bt(e0.3, e1.3, e2.3, e3.3), out + 12 * plane + c, stride: plane, lanes)
                }
            }
        }
    }
}

/// y[n, 2i + r, 2j + s, o] = (Aᵀ M A)[r][s] for every tile (outputs past the edge dropped).
private func transformProducts(
    _ m: UnsafePointer<Float>, _ g: WindowGeometry, outputs O: Int,
    into y: UnsafeMutablePointer<Float>
) {
    forEachTileRange(g, floatsPerTile: 20 * O, ProductTransform(m: m, g: g, O: O, y: y))
}

/// Tiles of `transformProducts`.
private struct ProductTransform: RangeJob {
    let m: UnsafePointer<Float>, g: WindowGeometry, O: Int, y: UnsafeMutablePointer<Float>

    func run(range tiles: Range<Int>, slice: Int) {
        let HO = g.outputHeight, WO = g.outputWidth, TH = (HO + 1) / 2, TW = (WO + 1) / 2, T = WinogradPlan.tiles(g)
        let plane = T * O
        for t in tiles {
            let n = t / (TH * TW), i = t / TW % TH, j = t % TW
            let rows = min(2, HO - 2 * i), columns = min(2, WO - 2 * j)
            let out = y + ((n * HO + 2 * i) * WO + 2 * j) * O, tile = m + t * O
            forEachLanes(O) { o, lanes in
                @inline(__always) func point(_ xi: Int) -> SIMD8<Float> { load(tile + xi * plane + o, lanes) }
                // f = Aᵀ M down each column (2 × 4), then Y = f A along each row.
                let f0 = at(point(0), point(4), point(8), point(12)), f1 = at(point(1), point(5), point(9), point(13))
                let f2 = at(point(2), point(6), point(10), point(14)), f3 = at(point(3), point(7), point(11), point(15))
                let top = at(f0.0, f1.0, f2.0, f3.0)
                store(top.0, out + o, lanes)
                if columns > 1 { store(top.1, out + O + o, lanes) }
                if rows > 1 {
                    let bottom = at(f0.1, f1.1, f2.1, f3.1)
                    store(bottom.0, out + WO * O + o, lanes)
                    if columns > 1 { store(bottom.1, out + (WO + 1) * O + o, lanes) }
                }
            }
        }
    }
}

/// Mg[ξ][t][o] = (A dY Aᵀ)[ξ] for every tile t of dy, dY its 2×2 output gradients (zero past the edge).
private func transformOutputGradients(
    _ dy: UnsafePointer<Float>, _ g: WindowGeometry, outputs O: Int,
    zeros: UnsafePointer<Float>, into mg: UnsafeMutablePointer<Float>
) {
    forEachTileRange(g, floatsPerTile: 20 * O, OutputGradientTransform(dy: dy, g: g, O: O, zeros: zeros, mg: mg))
}

/// Tiles of `transformOutputGradients`.
private struct OutputGradientTransform: RangeJob {
    let dy: UnsafePointer<Float>, g: WindowGeometry, O: Int, zeros: UnsafePointer<Float>, mg: UnsafeMutablePointer<Float>

    func run(range tiles: Range<Int>, slice: Int) {
        let HO = g.outputHeight, WO = g.outputWidth, TH = (HO + 1) / 2, TW = (WO + 1) / 2, T = WinogradPlan.tiles(g)
        let plane = T * O
        for t in tiles {
            let n = t / (TH * TW), i = t / TW % TH, j = t % TW
            func at(_ r: Int, _ s: Int) -> UnsafePointer<Float> {
                2 * i + r < HO && 2 * j + s < WO ? dy + ((n * HO + 2 * i + r) * WO + 2 * j + s) * O : zeros
            }
            let (p00, p01, p10, p11) = (at(0, 0), at(0, 1), at(1, 0), at(1, 1))
            let out = mg + t * O
            forEachLanes(O) { o, lanes in
                // h = A dY down each column (4 × 2), then Mg[a][·] = A h[a] along each row.
                let h0 = a(load(p00 + o, lanes), load(p10 + o, lanes)), h1 = a(load(p01 + o, lanes), load(p11 + o, lanes))
                store4(a(h0.0, h1.0), out + o, stride: plane, lanes)
                store4(a(h0.1, h1.1), out + 4 * plane + o, stride: plane, lanes)
                store4(a(h0.2, h1.2), out + 8 * plane + o, stride: plane, lanes)
                store4(a(h0.3, h1.3), out + 12 * plane + o, stride: plane, lanes)
            }
        }
    }
}

/// U[ξ][o][c] = (G g Gᵀ)[ξ] with g = w[o, ·, ·, c] (OHWI), or with `flipped` the filter of the
/// transposed convolution that gives dx, g[ky][kx] = w[o, 2 − ky, 2 − kx, c].
private func transformFilters(
    _ w: UnsafePointer<Float>, outputs O: Int, inputs C: Int, flipped: Bool,
    into u: UnsafeMutablePointer<Float>
) {
    Parallel.forEachRange(
        count: O, grain: max(1, winogradGrain / (16 * C)), FilterTransform(w: w, O: O, C: C, flipped: flipped, u: u))
}

/// Filters of `transformFilters`.
private struct FilterTransform: RangeJob {
    let w: UnsafePointer<Float>, O: Int, C: Int, flipped: Bool, u: UnsafeMutablePointer<Float>

    func run(range outputs: Range<Int>, slice: Int) {
        let plane = O * C
        for o in outputs {
            forEachLanes(C) { c, lanes in
                @inline(__always) func tap(_ ky: Int, _ kx: Int) -> SIMD8<Float> {
                    let (sy, sx) = flipped ? (2 - ky, 2 - kx) : (ky, kx)
                    return load(w + ((o * 3 + sy) * 3 + sx) * C + c, lanes)
                }
                // G down each column of the filter (4 × 3), then along each row: U[a][·] = G (e[a][0…2]).
                let e0 = gx(tap(0, 0), tap(1, 0), tap(2, 0)), e1 = gx(tap(0, 1), tap(1, 1), tap(2, 1))
                let e2 = gx(tap(0, 2), tap(1, 2), tap(2, 2))
                let base = u + o * C + c
                store4(gx(e0.0, e1.0, e2.0), base, stride: plane, lanes)
                store4(gx(e0.1, e1.1, e2.1), base + 4 * plane, stride: plane, lanes)
                store4(gx(e0.2, e1.2, e2.2), base + 8 * plane, stride: plane, lanes)
                store4(gx(e0.3, e1.3, e2.3), base + 12 * plane, stride: plane, lanes)
            }
        }
    }
}

/// dw[o, ky, kx, c] += (Gᵀ dU G)[ky][kx], dU laid `[ξ][o][c]`.
private func accumulateFilterGradient(
    _ du: UnsafePointer<Float>, outputs O: Int, inputs C: Int,
    into dw: UnsafeMutablePointer<Float>
) {
    Parallel.forEachRange(count: O, grain: max(1, winogradGrain / (16 * C)), FilterGradientTransform(du: du, O: O, C: C, dw: dw))
}

/// Filters of `accumulateFilterGradient`.
private struct FilterGradientTransform: RangeJob {
    let du: UnsafePointer<Float>, O: Int, C: Int, dw: UnsafeMutablePointer<Float>

    func run(range outputs: Range<Int>, slice: Int) {
        let plane = O * C
        for o in outputs {
            forEachLanes(C) { c, lanes in
                @inline(__always) func point(_ xi: Int) -> SIMD8<Float> { load(du + xi * plane + o * C + c, lanes) }
                // Gᵀ down each column (3 × 4), then along each row.
                let e0 = gtx(point(0), point(4), point(8), point(12)), e1 = gtx(point(1), point(5), point(9), point(13))
                let e2 = gtx(point(2), point(6), point(10), point(14)), e3 = gtx(point(3), point(7), point(11), point(15))
                @inline(__always) func add(_ row: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>), ky: Int) {
                    let p = dw + (o * 3 + ky) * 3 * C + c
                    store(load(p, lanes) + row.0, p, lanes)
                    store(load(p + C, lanes) + row.1, p + C, lanes)
                    store(load(p + 2 * C, lanes) + row.2, p + 2 * C, lanes)
                }
                add(gtx(e0.0, e1.0, e2.0, e3.0), ky: 0)
                add(gtx(e0.1, e1.1, e2.1, e3.1), ky: 1)
                add(gtx(e0.2, e1.2, e2.2, e3.2), ky: 2)
            }
        }
    }
}
