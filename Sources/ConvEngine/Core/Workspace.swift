/// One scratch buffer shared by every layer, sized once by the largest need (darknet's workspace).
///
/// Layers use it only inside a single forward or backward call, never across calls, so one buffer
/// serves the whole network.
public final class Workspace {
    private var storage: FloatStorage

    /// Creates a workspace of `count` floats.
    public init(count: Int = 0) { storage = FloatStorage(count: count) }

    /// The capacity in floats.
    public var count: Int { storage.count }

    /// Grows the buffer to hold at least `count` floats (called while building, never in a step).
    public func reserve(_ count: Int) {
        if count > storage.count { storage = FloatStorage(count: count) }
    }

    /// The start of the buffer.
    public var data: UnsafeMutablePointer<Float> { storage.data }
}
