/// The extents of a tensor, outermost first. Activations are NHWC: `[batch, height, width, channels]`.
public struct Shape: Hashable, Sendable, CustomStringConvertible {
    /// The extent of each axis, outermost first.
    public var dimensions: [Int]

    /// The most elements a shape may have: so many that their bytes, as float64, still fit in an `Int`.
    public static let maximumCount = Int.max / 8

    /// Creates a shape from its extents; every extent must be positive and the element count at
    /// most `maximumCount`.
    public init(_ dimensions: [Int]) throws {
        guard !dimensions.isEmpty, dimensions.allSatisfy({ $0 > 0 }) else {
            throw EngineError.invalidArgument("shape \(dimensions) must have at least one axis, all positive")
        }
        let tooLarge = EngineError.invalidArgument("shape \(dimensions) has too many elements")
        guard try Checked.product(dimensions, orThrow: tooLarge) <= Self.maximumCount else { throw tooLarge }
        self.dimensions = dimensions
    }

    /// Creates a shape from extents the caller has already validated.
    init(unchecked dimensions: [Int]) { self.dimensions = dimensions }

    /// An NHWC activation shape.
    public static func nhwc(_ n: Int, _ h: Int, _ w: Int, _ c: Int) throws -> Shape {
        try Shape([n, h, w, c])
    }

    /// The number of axes.
    public var rank: Int { dimensions.count }
    /// The number of elements.
    public var count: Int {
        // A plain loop: generic `reduce` allocates in unoptimised builds, and this runs in every step.
        var product = 1
        for i in 0..<dimensions.count { product *= dimensions[i] }
        return product
    }
    /// The extent of axis `i`.
    public subscript(i: Int) -> Int { dimensions[i] }

    /// The batch size (axis 0).
    public var batch: Int { dimensions[0] }
    /// Height of a rank-4 NHWC shape.
    public var height: Int { dimensions[1] }
    /// Width of a rank-4 NHWC shape.
    public var width: Int { dimensions[2] }
    /// The innermost extent: channels for NHWC, features for `[N, F]`.
    public var channels: Int { dimensions[dimensions.count - 1] }
    /// Elements per batch item.
    public var itemCount: Int { count / dimensions[0] }

    /// The same shape with a different batch size.
    public func withBatch(_ n: Int) -> Shape {
        var d = dimensions
        d[0] = n
        return Shape(unchecked: d)
    }

    /// The same shape with a different innermost extent.
    public func withChannels(_ c: Int) -> Shape {
        var d = dimensions
        d[d.count - 1] = c
        return Shape(unchecked: d)
    }

    public var description: String { "[" + dimensions.map(String.init).joined(separator: ", ") + "]" }

    /// Throws unless the shape has `rank` axes; `role` names the tensor in the message.
    public func requireRank(_ rank: Int, _ role: String) throws {
        if dimensions.count != rank {
            throw EngineError.shapeMismatch("\(role) must have rank \(rank), got \(self)")
        }
    }
}
