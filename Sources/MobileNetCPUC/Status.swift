import CMobileNetCPU
import ConvEngine
import Foundation
import Training

// Errors at the C boundary: every entry point runs its body through `call`, which turns a thrown
// error into a status and keeps its sentence as the calling thread's last error. Nothing here may
// trap on a caller's input: the bodies validate first (`CallError`), then use the engine, whose
// errors are typed.

/// An error found at the boundary, with its status.
struct CallError: Error {
    var status: mnc_status
    var message: String

    static func argument(_ message: String) -> CallError { CallError(status: MNC_INVALID_ARGUMENT, message: message) }
    static func handle(_ message: String) -> CallError { CallError(status: MNC_INVALID_HANDLE, message: message) }
    static func shape(_ message: String) -> CallError { CallError(status: MNC_SHAPE_MISMATCH, message: message) }
}

/// The calling thread's last error, as a C string it owns (freed when replaced or when the thread ends).
private let lastErrorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { free($0) }
    return key
}()

nonisolated(unsafe) private let emptyMessage: UnsafeMutablePointer<CChar> = strdup("")

func setLastError(_ message: String?) {
    let old = pthread_getspecific(lastErrorKey)
    pthread_setspecific(lastErrorKey, message.map { UnsafeMutableRawPointer(strdup($0)) } ?? nil)
    free(old)
}

/// Runs an entry point's body: MNC_OK when it returns, else the status of what it threw, with its
/// message kept as the thread's last error.
func call(_ function: String, _ body: () throws -> Void) -> mnc_status {
    do {
        try body()
        setLastError(nil)
        return MNC_OK
    } catch let error as CallError {
        setLastError("\(function): \(error.message)")
        return error.status
    } catch let error as EngineError {
        setLastError("\(function): \(error)")
        switch error {
        case .shapeMismatch: return MNC_SHAPE_MISMATCH
        case .invalidArgument(let m): return m.contains("the loss became") ? MNC_DIVERGED : MNC_INVALID_ARGUMENT
        case .corruptData: return MNC_CORRUPT_DATA
        case .io: return MNC_IO_ERROR
        }
    } catch let error as TrainingOptions.OptionError {
        setLastError("\(function): \(error)")
        return MNC_INVALID_ARGUMENT
    } catch {
        setLastError("\(function): \(error)")
        return MNC_INVALID_ARGUMENT
    }
}

/// `pointer`, or an error naming the argument when it is null.
func required<T>(_ pointer: T?, _ name: String) throws -> T {
    guard let pointer else { throw CallError.argument("\(name) is null") }
    return pointer
}

/// `value` as an Int in `range`, or an error naming the argument.
func checked<I: BinaryInteger>(_ value: I, _ name: String, in range: ClosedRange<Int> = 1...Int.max) throws -> Int {
    guard let v = Int(exactly: value), range.contains(v) else {
        throw CallError.argument(
            "\(name) must be in \(range.lowerBound)...\(range.upperBound == Int.max ? "" : "\(range.upperBound)"), got \(value)")
    }
    return v
}

@_cdecl("mnc_last_error")
public func mnc_last_error() -> UnsafePointer<CChar> {
    UnsafePointer(pthread_getspecific(lastErrorKey)?.assumingMemoryBound(to: CChar.self) ?? emptyMessage)
}

nonisolated(unsafe) private let versionString: UnsafeMutablePointer<CChar> = strdup(
    "\(MNC_VERSION_MAJOR).\(MNC_VERSION_MINOR).\(MNC_VERSION_PATCH)")

@_cdecl("mnc_version")
public func mnc_version() -> UnsafePointer<CChar> { UnsafePointer(versionString) }

@_cdecl("mnc_set_threads")
public func mnc_set_threads(_ threads: Int32) -> mnc_status {
    call("mnc_set_threads") {
        Parallel.setThreadCount(try checked(threads, "threads", in: 1...Parallel.maximumThreadCount))
    }
}

@_cdecl("mnc_get_threads")
public func mnc_get_threads() -> Int32 { Int32(Parallel.threadCount) }
