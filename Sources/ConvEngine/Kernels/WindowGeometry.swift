// The geometry of 2-D window operations (convolution, depthwise convolution, pooling) over NHWC batches.
//
// The kernels that walk windows (Depthwise, DirectConv, Pooling, Im2Row) each spell out their
// (n, oy, ox, ky, kx) loop. A shared iterator taking closures was tried and measured slower because,
// without whole-module optimisation, a helper in another file is not inlined into the channel
// loops; so the loops stay written out. What they share
// is here: which taps of a window lie inside the image (`tapRows`, `tapColumns`), and which output
// rows and columns read inside the image through a given tap (`outputRows(readingTapRow:)`,
// `outputColumns(readingTapColumn:)`), so no
// loop tests each tap against the image's edges.

/// Geometry of one 2-D window operation over an NHWC batch (convolution or pooling).
public struct WindowGeometry: Equatable, Sendable {
    /// Batch size.
    public var batch: Int
    /// Input height.
    public var height: Int
    /// Input width.
    public var width: Int
    /// Channels (input channels for a convolution).
    public var channels: Int
    /// Kernel (window) side.
    public var kernel: Int
    /// Stride.
    public var stride: Int
    /// Zero padding on every side.
    public var padding: Int

    /// Output height.
    public var outputHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
    /// Output width.
    public var outputWidth: Int { (width + 2 * padding - kernel) / stride + 1 }

    /// The window rows ky of output row `oy` that lie inside the image. Never empty, as the padding
    /// is smaller than the kernel.
    @inline(__always) func tapRows(atOutputRow oy: Int) -> Range<Int> {
        max(0, padding - oy * stride)..<min(kernel, height + padding - oy * stride)
    }

    /// The output columns whose whole window lies inside the image (every kx of `tapColumns`); may
    /// be empty.
    var interiorOutputColumns: Range<Int> {
        let first = (padding + stride - 1) / stride, last = (width + padding - kernel) / stride
        return first..<max(first, min(outputWidth, last + 1))
    }

    /// The window columns kx of output column `ox` that lie inside the image. Never empty.
    @inline(__always) func tapColumns(atOutputColumn ox: Int) -> Range<Int> {
        max(0, padding - ox * stride)..<min(kernel, width + padding - ox * stride)
    }

    /// The output columns ox whose window column `kx` reads inside the image (input column
    /// ox·S − P + kx in 0..<W); may be empty.
    @inline(__always) func outputColumns(readingTapColumn kx: Int) -> Range<Int> {
        let first = kx >= padding ? 0 : (padding - kx + stride - 1) / stride
        let last = width - 1 + padding - kx < 0 ? 0 : min(outputWidth, (width - 1 + padding - kx) / stride + 1)
        return first..<max(first, last)
    }

    /// The output rows oy whose window row `ky` reads inside the image (input row oy·S − P + ky in
    /// 0..<H); may be empty.
    @inline(__always) func outputRows(readingTapRow ky: Int) -> Range<Int> {
        let first = ky >= padding ? 0 : (padding - ky + stride - 1) / stride
        let last = height - 1 + padding - ky < 0 ? 0 : min(outputHeight, (height - 1 + padding - ky) / stride + 1)
        return first..<max(first, last)
    }

    /// Validates a window over an NHWC input shape.
    ///
    /// - Throws: `EngineError` for a non-NHWC input, a non-positive kernel or stride, a negative
    ///   padding, padding of a kernel side or more, or a kernel larger than the padded input.
    public init(input: Shape, kernel: Int, stride: Int, padding: Int, role: String) throws {
        try input.requireRank(4, "\(role) input")
        try require(kernel > 0, "\(role): kernel size must be positive, got \(kernel)")
        try require(stride > 0, "\(role): stride must be positive, got \(stride)")
        try require(padding >= 0, "\(role): padding must not be negative, got \(padding)")
        try require(padding < kernel, "\(role): padding \(padding) must be smaller than the kernel \(kernel)")
        batch = input.batch
        height = input.height
        width = input.width
        channels = input.channels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        guard height + 2 * padding >= kernel, width + 2 * padding >= kernel else {
            throw EngineError.shapeMismatch(
                "\(role): kernel \(kernel)×\(kernel) is larger than the padded input \(height + 2 * padding)×\(width + 2 * padding)"
            )
        }
    }
}
