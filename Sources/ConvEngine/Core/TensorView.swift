/// A shaped window onto float32 memory that something else owns (the network's arena, a workspace).
///
/// Layers read and write activations through views, so a training step moves no ownership and
/// allocates nothing. A view is only valid while its owner is alive.
public struct TensorView {
    /// The extents of the viewed tensor.
    public let shape: Shape
    /// The first element.
    public let data: UnsafeMutablePointer<Float>

    /// Creates a view of `shape.count` floats at `data`.
    public init(shape: Shape, data: UnsafeMutablePointer<Float>) {
        self.shape = shape
        self.data = data
    }

    /// The number of elements.
    @inlinable public var count: Int { shape.count }

    /// The viewed elements as a buffer.
    @inlinable public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: data, count: shape.count)
    }

    /// Sets every element to zero.
    @inlinable public func zero() { data.update(repeating: 0, count: shape.count) }

    /// Copies the elements out into an owning `Tensor`.
    public func toTensor() -> Tensor { Tensor(unchecked: shape, scalars: Array(buffer)) }

    /// Copies `tensor`'s elements in; the element counts must match.
    public func copy(from tensor: Tensor) throws {
        guard tensor.scalars.count == count else {
            throw EngineError.shapeMismatch("cannot copy \(tensor.shape) into a view of \(shape)")
        }
        tensor.scalars.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }
}

/// Owned float storage, allocated once and freed with its owner: the backing of parameters, arenas and
/// workspaces.
public final class FloatStorage {
    /// The first element.
    public let data: UnsafeMutablePointer<Float>
    /// The number of floats.
    public let count: Int

    /// Whether the storage allocated its memory (and frees it), or borrows the caller's.
    private let owned: Bool

    /// Allocates `count` floats (64-byte aligned), zero-filled.
    public init(count: Int) {
        self.count = count
        owned = true
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        data = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        data.initialize(repeating: 0, count: max(count, 1))
    }

    /// Borrows `count` floats of the caller's memory, which must outlive the storage; they are
    /// neither initialised nor freed.
    public init(borrowing data: UnsafeMutablePointer<Float>, count: Int) {
        self.data = data
        self.count = count
        owned = false
    }

    deinit { if owned { UnsafeMutableRawPointer(data).deallocate() } }

    /// The elements as a buffer.
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }
}
