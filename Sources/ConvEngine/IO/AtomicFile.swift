import Foundation

/// Whole-file writes that never leave a partial file where a complete one is expected.
public enum AtomicFile {
    /// Writes `data` to a temporary file in `url`'s directory, flushes it to disk, then renames it over
    /// `url` (an atomic replace on POSIX file systems).
    ///
    /// - Throws: `EngineError.io` naming the path when any step fails; the temporary file is removed.
    public static func write(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw EngineError.io("cannot create \(temporary.path) (does \(directory.path) exist and is it writable?)")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            defer { try? handle.close() }
            try handle.write(contentsOf: data)
            try handle.synchronize()
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw EngineError.io("cannot write \(temporary.path): \(error.localizedDescription)")
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw EngineError.io("cannot rename \(temporary.path) to \(url.path): \(reason)")
        }
    }
}
