/// One scratch buffer shared by every layer, sized once by the largest need (darknet's workspace).
///
/// Layers use it only inside a single forward or backward call, never across calls, so one buffer
/// serves the whole network.
public final class Workspace {
    private var storage: FloatStorage

    /// Creates a workspace of `count` floats.
    public init(count: Int = 0) { storage = FloatStorage(count: count) }

    /// A workspace in the caller's memory (`count` floats that must outlive it); `reserve` beyond
    /// `count` allocates instead.
    public init(borrowing data: UnsafeMutablePointer<Float>, count: Int) {
        storage = FloatStorage(borrowing: data, count: count)
    }

    /// The capacity in floats.
    public var count: Int { storage.count }

    /// Grows the buffer to hold at least `count` floats (called while building, never in a step).
    public func reserve(_ count: Int) {
        if count > storage.count { storage = FloatStorage(count: count) }
    }

    /// The start of the buffer.
    public var data: UnsafeMutablePointer<Float> { storage.data }

    /// The start of the buffer, after checking that it holds `count` floats.
    ///
    /// - Parameters:
    ///   - count: the floats the caller will use.
    ///   - role: who asks, for the error message.
    /// - Throws: `EngineError.invalidArgument` when the workspace was reserved for less, which means
    ///   the layer was run without being prepared for this shape.
    public func floats(_ count: Int, for role: String) throws -> UnsafeMutablePointer<Float> {
        guard count <= storage.count else {
            throw EngineError.invalidArgument(
                "\(role) needs \(count) floats of workspace, but only \(storage.count) were reserved")
        }
        return storage.data
    }
}
