// The geometry of 2-D window operations (convolution, depthwise convolution, pooling) over NHWC batches.
//
// The kernels that walk windows (Depthwise.swift, Pooling.swift) each spell out the same
// (n, oy, ox, ky, kx) loop. A shared iterator taking closures was tried and measured slower
// (stride-2 depthwise 2.7 → 3.5 ms forward) because, without whole-module optimisation, a helper in
// another file is not inlined into the channel loops; so the loops stay written out.

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
        batch = input.batch; height = input.height; width = input.width; channels = input.channels
        self.kernel = kernel; self.stride = stride; self.padding = padding
        guard height + 2 * padding >= kernel, width + 2 * padding >= kernel else {
            throw EngineError.shapeMismatch(
                "\(role): kernel \(kernel)×\(kernel) is larger than the padded input \(height + 2 * padding)×\(width + 2 * padding)")
        }
    }
}
