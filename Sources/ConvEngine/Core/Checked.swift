/// Integer arithmetic on sizes that come from input — file headers, tensor shapes, options,
/// checkpoint metadata — where an overflow is the caller's error, never a trap.
///
/// Every size that input can reach is computed through these before anything is allocated or
/// indexed: the readers (pickle, tar, safetensors), `Shape`, and the model planner.
public enum Checked {
    /// `a × b`, or `error` when the product does not fit in an `Int`.
    @inlinable
    public static func product(_ a: Int, _ b: Int, orThrow error: @autoclosure () -> Error) throws -> Int {
        let (p, overflow) = a.multipliedReportingOverflow(by: b)
        if overflow { throw error() }
        return p
    }

    /// The product of `factors` (1 for none), or `error` when it does not fit in an `Int`.
    @inlinable
    public static func product<Factors: Sequence<Int>>(_ factors: Factors, orThrow error: @autoclosure () -> Error) throws -> Int
    {
        var p = 1
        for f in factors { p = try product(p, f, orThrow: error()) }
        return p
    }

    /// `a + b`, or `error` when the sum does not fit in an `Int`.
    @inlinable
    public static func sum(_ a: Int, _ b: Int, orThrow error: @autoclosure () -> Error) throws -> Int {
        let (s, overflow) = a.addingReportingOverflow(b)
        if overflow { throw error() }
        return s
    }

    /// `Int(value)` rounded toward zero, or `error` when `value` is not finite or outside `Int`'s range.
    @inlinable
    public static func integer<F: BinaryFloatingPoint>(_ value: F, orThrow error: @autoclosure () -> Error) throws -> Int {
        guard let i = Int(exactly: value.rounded(.towardZero)) else { throw error() }
        return i
    }
}
