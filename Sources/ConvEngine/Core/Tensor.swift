/// A dense float32 tensor that owns its elements, row-major; activations are NHWC.
///
/// `Tensor` is the value type at the library's edges (inputs, outputs, fixtures). Inside a network,
/// layers work on `TensorView`s into one preallocated arena instead.
public struct Tensor: Equatable, Sendable {
    /// The tensor's extents.
    public let shape: Shape
    /// The elements in row-major order.
    public var scalars: [Float]

    /// Creates a tensor of the given shape filled with `value`.
    public init(shape: Shape, repeating value: Float = 0) {
        self.shape = shape
        self.scalars = [Float](repeating: value, count: shape.count)
    }

    /// Creates a tensor from row-major scalars; their count must match the shape.
    public init(shape: Shape, scalars: [Float]) throws {
        guard scalars.count == shape.count else {
            throw EngineError.shapeMismatch("\(scalars.count) scalars cannot fill shape \(shape)")
        }
        self.shape = shape
        self.scalars = scalars
    }

    /// Converts an NCHW tensor (PyTorch's layout) to NHWC.
    ///
    /// - Parameter nchw: a rank-4 tensor laid out `[N, C, H, W]`.
    public init(nchw: Tensor) throws {
        try nchw.shape.requireRank(4, "an NCHW tensor")
        let (n, c, h, w) = (nchw.shape[0], nchw.shape[1], nchw.shape[2], nchw.shape[3])
        var out = [Float](repeating: 0, count: nchw.scalars.count)
        for b in 0..<n {
            for ch in 0..<c {
                for y in 0..<h {
                    for x in 0..<w {
                        out[((b * h + y) * w + x) * c + ch] = nchw.scalars[((b * c + ch) * h + y) * w + x]
                    }
                }
            }
        }
        self.shape = Shape(unchecked: [n, h, w, c])
        self.scalars = out
    }

    /// This NHWC tensor in NCHW layout (PyTorch's), with shape `[N, C, H, W]`.
    public func toNCHW() throws -> Tensor {
        try shape.requireRank(4, "an NHWC tensor")
        let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        var out = [Float](repeating: 0, count: scalars.count)
        for b in 0..<n {
            for y in 0..<h {
                for x in 0..<w {
                    for ch in 0..<c {
                        out[((b * c + ch) * h + y) * w + x] = scalars[((b * h + y) * w + x) * c + ch]
                    }
                }
            }
        }
        return Tensor(unchecked: Shape(unchecked: [n, c, h, w]), scalars: out)
    }

    init(unchecked shape: Shape, scalars: [Float]) {
        self.shape = shape
        self.scalars = scalars
    }
}
