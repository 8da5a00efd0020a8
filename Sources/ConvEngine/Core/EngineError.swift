/// An error raised by the engine for input a caller can get wrong: shapes, hyper-parameters, files.
///
/// Every case carries a sentence that names what is wrong, so a command-line tool can print it as is.
public enum EngineError: Error, Equatable, CustomStringConvertible {
    /// A shape does not fit what an operation needs (rank, channel count, element count).
    case shapeMismatch(String)
    /// A hyper-parameter is outside its valid range (negative stride, zero channels, p ≥ 1, …).
    case invalidArgument(String)
    /// A file or byte buffer is malformed; the message names the file and the problem.
    case corruptData(String)
    /// A file could not be read or written.
    case io(String)

    public var description: String {
        switch self {
        case .shapeMismatch(let message): return "shape mismatch: \(message)"
        case .invalidArgument(let message): return "invalid argument: \(message)"
        case .corruptData(let message): return "corrupt data: \(message)"
        case .io(let message): return "I/O error: \(message)"
        }
    }
}

/// Throws `EngineError.invalidArgument(message())` unless `condition` holds.
///
/// - Parameters:
///   - condition: what must hold.
///   - message: the sentence naming the problem.
@inlinable
public func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw EngineError.invalidArgument(message()) }
}
