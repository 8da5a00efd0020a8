/// The 64-bit FNV-1a hash: the fingerprints of data sets, and the weights a data-parallel run's
/// processes compare after process 0's broadcast.
public struct FNV1a {
    /// The hash of what was mixed in so far.
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    /// A hash of nothing yet.
    public init() {}

    /// Mixes `bytes` in, in order.
    public mutating func mix(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes { value = (value ^ UInt64(byte)) &* 0x100_0000_01b3 }
    }

    /// The hash of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> UInt64 {
        var h = FNV1a()
        bytes.withUnsafeBytes { h.mix($0) }
        return h.value
    }
}
