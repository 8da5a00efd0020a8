// Geometric operations on RGB images, pixel for pixel as Pillow computes them (torchvision's
// transforms call Pillow on the images `ImageFolder` loads).
//
// Resizing is Pillow's two-pass bilinear resampling (libImaging/Resample.c): per output pixel the
// triangle filter's weights over the input pixels it covers, widened by the scale when shrinking
// (so shrinking averages, as an antialiasing filter), normalised to sum 1, then rounded to 22-bit
// fixed point; each pass sums in integers from a rounding offset and clips to 0–255. Rows first,
// over the rows the vertical pass will read, then columns.

/// One output pixel's inputs: the first, how many, and their fixed-point weights.
struct ResampleCoefficients {
    /// Pillow's PRECISION_BITS for 8-bit images.
    static let precisionBits = 22

    let first: [Int32]
    let count: [Int32]
    /// `size` weights per output pixel, zero-padded.
    let weights: [Int32]
    let size: Int

    /// The weights for resizing `inputSize` pixels to `outputSize` (Pillow's precompute_coeffs and
    /// normalize_coeffs_8bpc for the bilinear filter, whose support is 1).
    init(inputSize: Int, outputSize: Int) {
        let scale = Double(inputSize) / Double(outputSize)
        let filterScale = max(scale, 1)
        let support = filterScale
        size = Int(support.rounded(.up)) * 2 + 1
        var first = [Int32](repeating: 0, count: outputSize), count = first
        var weights = [Int32](repeating: 0, count: outputSize * size)
        var k = [Double](repeating: 0, count: size)
        let reciprocal = 1 / filterScale  // multiplied, not divided by, as Pillow does: the same bits
        for xx in 0..<outputSize {
            let center = (Double(xx) + 0.5) * scale
            let xmin = max(Int(center - support + 0.5), 0)
            let xmax = min(Int(center + support + 0.5), inputSize) - xmin
            var total = 0.0
            for x in 0..<xmax {
                let t = abs((Double(x + xmin) - center + 0.5) * reciprocal)
                k[x] = t < 1 ? 1 - t : 0
                total += k[x]
            }
            for x in 0..<xmax {
                let w = total != 0 ? k[x] / total : k[x]
                let fixed = w * Double(1 << Self.precisionBits)
                weights[xx * size + x] = Int32(w < 0 ? (-0.5 + fixed).rounded(.towardZero) : (0.5 + fixed).rounded(.towardZero))
            }
            first[xx] = Int32(xmin)
            count[xx] = Int32(xmax)
        }
        (self.first, self.count, self.weights) = (first, count, weights)
    }

    /// A sum in fixed point as a byte: rounded by the offset it started from, clipped to 0–255.
    @inline(__always) static func clip(_ sum: Int64) -> UInt8 {
        let v = sum >> Int64(precisionBits)
        return v <= 0 ? 0 : (v >= 255 ? 255 : UInt8(v))
    }
}

extension RGBImage {
    /// The image resized to `width` × `height` with Pillow's bilinear filter
    /// (`Image.resize(size, Image.BILINEAR)`); the image itself when the size does not change.
    public func resized(width: Int, height: Int) -> RGBImage {
        guard width != self.width || height != self.height else { return self }
        let horizontal = ResampleCoefficients(inputSize: self.width, outputSize: width)
        let vertical = ResampleCoefficients(inputSize: self.height, outputSize: height)
        let round = Int64(1) << Int64(ResampleCoefficients.precisionBits - 1)
        // Rows pass, over the rows the columns pass reads.
        let firstRow = Int(vertical.first[0])
        let lastRow = Int(vertical.first[height - 1] + vertical.count[height - 1])
        var rows = self
        if width != self.width {
            rows = RGBImage(unchecked: width, lastRow - firstRow, [UInt8](repeating: 0, count: width * (lastRow - firstRow) * 3))
            pixels.withUnsafeBufferPointer { src in
                rows.pixels.withUnsafeMutableBufferPointer { dst in
                    for y in 0..<(lastRow - firstRow) {
                        let row = src.baseAddress! + (y + firstRow) * self.width * 3
                        for xx in 0..<width {
                            let x0 = Int(horizontal.first[xx]), n = Int(horizontal.count[xx]), k = xx * horizontal.size
                            var s0 = round, s1 = round, s2 = round
                            for x in 0..<n {
                                let w = Int64(horizontal.weights[k + x]), p = row + (x0 + x) * 3
                                s0 += Int64(p[0]) * w
                                s1 += Int64(p[1]) * w
                                s2 += Int64(p[2]) * w
                            }
                            let o = dst.baseAddress! + (y * width + xx) * 3
                            o[0] = ResampleCoefficients.clip(s0)
                            o[1] = ResampleCoefficients.clip(s1)
                            o[2] = ResampleCoefficients.clip(s2)
                        }
                    }
                }
            }
        }
        guard height != self.height else { return rows }
        let rowOffset = width != self.width ? firstRow : 0
        var out = RGBImage(unchecked: width, height, [UInt8](repeating: 0, count: width * height * 3))
        rows.pixels.withUnsafeBufferPointer { src in
            out.pixels.withUnsafeMutableBufferPointer { dst in
                for yy in 0..<height {
                    let y0 = Int(vertical.first[yy]) - rowOffset, n = Int(vertical.count[yy]), k = yy * vertical.size
                    for i in 0..<(width * 3) {
                        var s = round
                        for y in 0..<n { s += Int64(src[(y0 + y) * width * 3 + i]) * Int64(vertical.weights[k + y]) }
                        dst[yy * width * 3 + i] = ResampleCoefficients.clip(s)
                    }
                }
            }
        }
        return out
    }

    /// The `width` × `height` window at (`left`, `top`); pixels outside the image are black
    /// (Pillow's `Image.crop`).
    public func cropped(left: Int, top: Int, width: Int, height: Int) -> RGBImage {
        var out = RGBImage(unchecked: width, height, [UInt8](repeating: 0, count: width * height * 3))
        let x0 = max(0, -left), x1 = min(width, self.width - left)
        guard x1 > x0 else { return out }
        for y in 0..<height {
            let sy = y + top
            guard sy >= 0 && sy < self.height else { continue }
            let from = (sy * self.width + left + x0) * 3, to = (y * width + x0) * 3, n = (x1 - x0) * 3
            out.pixels.replaceSubrange(to..<(to + n), with: pixels[from..<(from + n)])
        }
        return out
    }

    /// The image mirrored left to right.
    public func flippedHorizontally() -> RGBImage {
        var out = self
        for y in 0..<height {
            for x in 0..<width {
                let s = (y * width + width - 1 - x) * 3, d = (y * width + x) * 3
                out.pixels[d] = pixels[s]
                out.pixels[d + 1] = pixels[s + 1]
                out.pixels[d + 2] = pixels[s + 2]
            }
        }
        return out
    }
}
