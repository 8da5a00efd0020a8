import ConvEngine
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A training log in JSON Lines (`RunEvent`s), opened for appending and locked against a second
/// writer. Each event is one `write` of a whole line, so a crash keeps every line written before
/// it, and a failed write (a full disk) is an error that names the event lost, never a silent gap.
public final class RunLog {
    private let descriptor: Int32?
    private let path: String
    private let lock: FileLock?

    /// Appends to `url` (created if missing), or logs nowhere when nil.
    ///
    /// - Parameter purpose: what this process does, recorded in the lock for a refused second writer.
    /// - Throws: `EngineError.io` when the log cannot be opened, or another process writes it.
    public init(url: URL?, purpose: String = "training") throws {
        guard let url else {
            (descriptor, path, lock) = (nil, "", nil)
            return
        }
        path = url.path
        lock = try FileLock(guarding: url, purpose: purpose)
        let fd = open(url.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EngineError.io("cannot open the log \(url.path): \(String(cString: strerror(errno)))") }
        descriptor = fd
    }

    deinit { if let descriptor { close(descriptor) } }

    /// Appends one event.
    ///
    /// - Throws: `EngineError.io` naming the log and the event when the line cannot be written whole.
    public func write(_ event: RunEvent) throws {
        guard let descriptor else { return }
        let line = try event.line() + Data("\n".utf8)
        try line.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    throw EngineError.io(
                        "cannot write the log \(path): \(String(cString: strerror(errno))); its \(event.name) event is lost")
                }
                offset += n
            }
        }
    }

    /// Reads every event of a log file, in order.
    ///
    /// A last line without its newline is the torn end of a run that was killed mid-write: it is
    /// left out and counted in `tornLines`.
    ///
    /// - Throws: `EngineError.io` when the file cannot be read, `EngineError.corruptData` naming the
    ///   first line that is not an event.
    public static func read(_ url: URL) throws -> (events: [RunEvent], tornLines: Int) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw EngineError.io("cannot read the log \(url.path): \(error.localizedDescription)")
        }
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        var events: [RunEvent] = [], torn = 0
        for (i, line) in lines.enumerated() where !line.isEmpty {
            do {
                if let event = try RunEvent(line: Data(line)) { events.append(event) }
            } catch {
                if i == lines.count - 1 && data.last != UInt8(ascii: "\n") {
                    torn += 1
                    continue
                }
                throw EngineError.corruptData(
                    "\(url.path): line \(i + 1) is not a training event (\(String(decoding: line.prefix(80), as: UTF8.self)))")
            }
        }
        return (events, torn)
    }
}
