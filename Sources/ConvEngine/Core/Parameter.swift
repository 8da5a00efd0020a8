/// How a parameter's engine layout maps to PyTorch's layout for the same tensor.
///
/// The engine keeps weights in the layout its kernels want; checkpoints store PyTorch's.
public enum ParameterLayout: Equatable, Sendable {
    /// Same shape and order in both (biases, BN vectors, linear weights `[out, in]`, 1×1 conv weights).
    case identical
    /// Engine `[O, kh, kw, I]` (OHWI); PyTorch `[O, I, kh, kw]` (OIHW).
    case ohwi
    /// Engine `[O, I]` for a 1×1 convolution; PyTorch `[O, I, 1, 1]` (same element order).
    case pointwise
    /// Engine `[kh, kw, C]` for a depthwise filter; PyTorch `[C, 1, kh, kw]`.
    case depthwiseHWC
    /// A linear weight `[out, h·w·c]` fed by an NHWC flatten; PyTorch's flatten is NCHW: `[out, c·h·w]`.
    case linearAfterNHWCFlatten(height: Int, width: Int, channels: Int)
}

/// A trainable tensor: its value and the gradient that backward passes accumulate into.
///
/// The optimizer zeroes gradients; layers only add to them.
public final class Parameter {
    /// The PyTorch-style name relative to its layer (`weight`, `bias`, `running_mean`, …).
    public let name: String
    /// The engine-layout shape.
    public let shape: Shape
    /// How `shape` maps to PyTorch's layout.
    public let layout: ParameterLayout
    /// Whether the optimizer updates it (false for BN running statistics).
    public let isTrainable: Bool
    /// Whether weight decay applies (weights yes; biases and BN affine parameters are the caller's choice).
    public let isWeight: Bool
    /// Inputs feeding one output (for He/Glorot initialisation); nil for vectors.
    public let fanIn: Int?
    /// Outputs fed by one input (for Glorot initialisation); nil for vectors.
    public let fanOut: Int?
    /// The current value.
    public let value: FloatStorage
    /// The accumulated gradient (allocated for trainable parameters only; count 0 otherwise).
    public let gradient: FloatStorage

    /// Creates a zero-filled parameter.
    ///
    /// - Throws: `EngineError.invalidArgument` when its value and gradient would not fit in memory.
    public init(
        name: String, shape: Shape, layout: ParameterLayout = .identical,
        isTrainable: Bool = true, isWeight: Bool = false, fanIn: Int? = nil, fanOut: Int? = nil
    ) throws {
        try Memory.requireFits(floats: (isTrainable ? 2 : 1) * shape.count, "parameter \(name) of shape \(shape)")
        self.name = name
        self.shape = shape
        self.layout = layout
        self.isTrainable = isTrainable
        self.isWeight = isWeight
        self.fanIn = fanIn
        self.fanOut = fanOut
        value = FloatStorage(count: shape.count)
        gradient = FloatStorage(count: isTrainable ? shape.count : 0)
    }

    /// The number of elements.
    public var count: Int { shape.count }

    /// Sets the gradient to zero.
    public func zeroGradient() { gradient.data.update(repeating: 0, count: gradient.count) }

    /// The value as an owning tensor (engine layout).
    public var tensor: Tensor { Tensor(unchecked: shape, scalars: Array(value.buffer)) }

    /// Replaces the value; `scalars` must have `count` elements in engine layout.
    public func assign(_ scalars: [Float]) throws {
        guard scalars.count == count else {
            throw EngineError.shapeMismatch("parameter \(name) has \(count) elements, got \(scalars.count)")
        }
        scalars.withUnsafeBufferPointer { value.data.update(from: $0.baseAddress!, count: count) }
    }
}

extension ParameterLayout {
    /// PyTorch's shape for a tensor of this layout with engine shape `shape`.
    public func pytorchShape(for shape: Shape) -> [Int] {
        let d = shape.dimensions
        switch self {
        case .identical, .linearAfterNHWCFlatten: return d
        case .ohwi: return [d[0], d[3], d[1], d[2]]
        case .pointwise: return [d[0], d[1], 1, 1]
        case .depthwiseHWC: return [d[2], 1, d[0], d[1]]
        }
    }

    /// For each engine-order element, its index in PyTorch order.
    func pytorchIndices(for shape: Shape) -> [Int] {
        let d = shape.dimensions
        switch self {
        case .identical, .pointwise:
            return Array(0..<shape.count)
        case .ohwi:
            let (o, kh, kw, i) = (d[0], d[1], d[2], d[3])
            var map = [Int](repeating: 0, count: shape.count)
            for a in 0..<o {
                for y in 0..<kh {
                    for x in 0..<kw {
                        for b in 0..<i {
                            map[((a * kh + y) * kw + x) * i + b] = ((a * i + b) * kh + y) * kw + x
                        }
                    }
                }
            }
            return map
        case .depthwiseHWC:
            let (kh, kw, c) = (d[0], d[1], d[2])
            var map = [Int](repeating: 0, count: shape.count)
            for y in 0..<kh {
                for x in 0..<kw {
                    for ch in 0..<c {
                        map[(y * kw + x) * c + ch] = (ch * kh + y) * kw + x
                    }
                }
            }
            return map
        case .linearAfterNHWCFlatten(let h, let w, let c):
            let out = d[0], features = h * w * c
            var map = [Int](repeating: 0, count: shape.count)
            for r in 0..<out {
                for y in 0..<h {
                    for x in 0..<w {
                        for ch in 0..<c {
                            map[r * features + (y * w + x) * c + ch] = r * features + (ch * h + y) * w + x
                        }
                    }
                }
            }
            return map
        }
    }

    /// Reorders engine-layout values into PyTorch's layout.
    public func toPyTorch(_ values: [Float], shape: Shape) -> [Float] {
        let map = pytorchIndices(for: shape)
        var out = values
        for (e, p) in map.enumerated() { out[p] = values[e] }
        return out
    }

    /// Reorders PyTorch-layout values into the engine's layout.
    public func fromPyTorch(_ values: [Float], shape: Shape) -> [Float] {
        let map = pytorchIndices(for: shape)
        var out = values
        for (e, p) in map.enumerated() { out[e] = values[p] }
        return out
    }
}
