// Lowering of a standard convolution over NHWC activations to one matrix product.
//
// Dimension legend:
//   N batch, H W input height and width, C input channels,
//   KH KW kernel height and width, S stride, P padding (same on every side),
//   HO WO output height and width, K = KH·KW·C (one row of the column matrix, ordered (ky, kx, c)).
// The column matrix is [N·HO·WO × K], row-major; its row for output pixel (n, oy, ox) holds the
// receptive field with zeros where it falls into the padding.

/// Writes the column matrix of `x` for rows of images `[first, first + count)` into `col`.
func im2row(
    _ x: UnsafePointer<Float>, _ g: WindowGeometry, images first: Int, count: Int,
    into col: UnsafeMutablePointer<Float>
) {
    let (H, W, C, KH, S, P) = (g.height, g.width, g.channels, g.kernel, g.stride, g.padding)
    let KW = KH, HO = g.outputHeight, WO = g.outputWidth, K = KH * KW * C
    for n in 0..<count {
        let image = x + (first + n) * H * W * C
        for oy in 0..<HO {
            for ox in 0..<WO {
                var row = col + ((n * HO + oy) * WO + ox) * K
                for ky in 0..<KH {
                    let iy = oy * S - P + ky
                    if iy < 0 || iy >= H {
                        row.update(repeating: 0, count: KW * C)
                        row += KW * C
                        continue
                    }
                    for kx in 0..<KW {
                        let ix = ox * S - P + kx
                        if ix < 0 || ix >= W {
                            for c in 0..<C { row[c] = 0 }
                        } else if C < 256 {
                            // Up to a few hundred channels a plain (vectorised) loop beats a memcpy call
                            // per tap: memmove and memset were 9% of a SeedNet-baseline profile at C = 32.
                            let src = image + (iy * W + ix) * C
                            for c in 0..<C { row[c] = src[c] }
                        } else {
                            row.update(from: image + (iy * W + ix) * C, count: C)
                        }
                        row += C
                    }
                }
            }
        }
    }
}

/// Folds the column-matrix gradient `dcol` back into `dx` for images `[first, first + count)`: the
/// adjoint of `im2row`. Overwrites those images of `dx`.
func row2im(
    _ dcol: UnsafePointer<Float>, _ g: WindowGeometry, images first: Int, count: Int,
    into dx: UnsafeMutablePointer<Float>
) {
    let (H, W, C, KH, S, P) = (g.height, g.width, g.channels, g.kernel, g.stride, g.padding)
    let KW = KH, HO = g.outputHeight, WO = g.outputWidth, K = KH * KW * C
    (dx + first * H * W * C).update(repeating: 0, count: count * H * W * C)
    for n in 0..<count {
        let image = dx + (first + n) * H * W * C
        for oy in 0..<HO {
            for ox in 0..<WO {
                let row = dcol + ((n * HO + oy) * WO + ox) * K
                for ky in g.tapRows(atOutputRow: oy) {
                    for kx in g.tapColumns(atOutputColumn: ox) {
                        let src = row + (ky * KW + kx) * C, dst = image + ((oy * S - P + ky) * W + ox * S - P + kx) * C
                        for c in 0..<C { dst[c] += src[c] }
                    }
                }
            }
        }
    }
}

/// `im2row` with the images split over `Parallel`'s threads (each writes its own rows).
func im2rowInParallel(
    _ x: UnsafePointer<Float>, _ g: WindowGeometry, images first: Int, count: Int,
    into col: UnsafeMutablePointer<Float>
) {
    Parallel.forEachRange(of: count, slices: loweringSlices(g, images: count), Im2Row(x: x, g: g, first: first, col: col))
}

/// `row2im` with the images split over `Parallel`'s threads (each writes its own images of dx).
func row2imInParallel(
    _ dcol: UnsafePointer<Float>, _ g: WindowGeometry, images first: Int, count: Int,
    into dx: UnsafeMutablePointer<Float>
) {
    Parallel.forEachRange(of: count, slices: loweringSlices(g, images: count), Row2Im(dcol: dcol, g: g, first: first, dx: dx))
}

/// Image slices of a lowering of `images` images: split over the threads when the copy is large enough.
private func loweringSlices(_ g: WindowGeometry, images: Int) -> Int {
    Parallel.itemSliceCount(
        images, workPerItem: g.outputHeight * g.outputWidth * g.kernel * g.kernel * g.channels,
        grain: elementGrain)
}

/// Images `first + range` of x into their rows of `col` (which starts at image `first`).
private struct Im2Row: RangeJob {
    let x: UnsafePointer<Float>, g: WindowGeometry, first: Int, col: UnsafeMutablePointer<Float>

    func run(range images: Range<Int>, slice: Int) {
        let rowFloats = g.outputHeight * g.outputWidth * g.kernel * g.kernel * g.channels
        im2row(x, g, images: first + images.lowerBound, count: images.count, into: col + images.lowerBound * rowFloats)
    }
}

/// The rows of `dcol` (which starts at image `first`) summed into images `first + range` of dx.
private struct Row2Im: RangeJob {
    let dcol: UnsafePointer<Float>, g: WindowGeometry, first: Int, dx: UnsafeMutablePointer<Float>

    func run(range images: Range<Int>, slice: Int) {
        let rowFloats = g.outputHeight * g.outputWidth * g.kernel * g.kernel * g.channels
        row2im(dcol + images.lowerBound * rowFloats, g, images: first + images.lowerBound, count: images.count, into: dx)
    }
}
