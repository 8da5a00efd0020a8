import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Whole-file writes that never leave a partial file where a complete one is expected, and never
/// replace what is not a regular file.
///
/// A regular file (or a missing one) is written to a temporary file beside it, flushed, and renamed
/// over it: an atomic replace on POSIX file systems. A symbolic link is followed, so the file it
/// points at is replaced and the link stays. A character device or a FIFO (`/dev/null`, a pipe) is
/// written through, never replaced by a regular file; a directory, socket or block device is refused.
public enum AtomicFile {
    /// What a path names, as far as writing it is concerned.
    enum Destination: Equatable {
        /// Nothing yet, or a regular file: replaced atomically.
        case replaceable
        /// A character device or FIFO: written through.
        case writeThrough
        /// Something that must not be written (the reason, for the message).
        case refused(String)
    }

    /// The path a write lands on: `url` with symbolic links resolved.
    static func target(of url: URL) -> URL { url.resolvingSymlinksInPath() }

    static func destination(_ url: URL) -> Destination {
        var info = stat()
        guard stat(url.path, &info) == 0 else { return .replaceable }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .replaceable
        case S_IFCHR, S_IFIFO: return .writeThrough
        case S_IFDIR: return .refused("is a directory")
        default: return .refused("is a special file (socket or block device)")
        }
    }

    /// Whether `url` names a character device or FIFO, which writes go straight to.
    public static func isWriteThrough(_ url: URL) -> Bool { destination(target(of: url)) == .writeThrough }

    /// Throws unless `url` can be written: its directory exists and is writable (for a regular
    /// file), or it is a device or FIFO that opens for writing. Call it before long work whose
    /// result goes there, so that a bad path is found at the start, not at the end.
    ///
    /// - Throws: `EngineError.io` naming the path and the problem.
    public static func checkWritable(_ url: URL) throws {
        let target = target(of: url)
        switch destination(target) {
        case .refused(let why):
            throw EngineError.io("cannot write \(url.path): it \(why)")
        case .writeThrough:
            // Not opened to try: closing a FIFO's writing end would end its reader's stream.
            guard access(target.path, W_OK) == 0 else {
                throw EngineError.io("cannot write \(url.path): \(String(cString: strerror(errno)))")
            }
        case .replaceable:
            let directory = target.deletingLastPathComponent()
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw EngineError.io("cannot write \(url.path): the folder \(directory.path) does not exist")
            }
            guard access(directory.path, W_OK) == 0 else {
                throw EngineError.io("cannot write \(url.path): the folder \(directory.path) is not writable")
            }
        }
    }

    /// Writes `data` to `url`: atomically for a regular file (temporary file, flush, rename), straight
    /// through for a device or FIFO. Temporary files that a killed process left for the same path
    /// are removed first.
    ///
    /// - Throws: `EngineError.io` naming the path when any step fails; the temporary file is removed.
    public static func write(_ data: Data, to url: URL) throws {
        let target = target(of: url)
        switch destination(target) {
        case .refused(let why):
            throw EngineError.io("cannot write \(url.path): it \(why)")
        case .writeThrough:
            try writeThrough(data, to: target, named: url.path)
        case .replaceable:
            try replace(target, with: data, named: url.path)
        }
    }

    private static func writeThrough(_ data: Data, to target: URL, named name: String) throws {
        let fd = open(target.path, O_WRONLY)
        guard fd >= 0 else { throw EngineError.io("cannot write \(name): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw EngineError.io("cannot write \(name): \(String(cString: strerror(errno)))") }
                offset += n
            }
        }
    }

    private static func replace(_ target: URL, with data: Data, named name: String) throws {
        let directory = target.deletingLastPathComponent()
        let prefix = ".\(target.lastPathComponent).tmp-"
        removeStaleTemporaries(in: directory, prefix: prefix)
        let temporary = directory.appendingPathComponent(prefix + "\(getpid())")
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
        guard rename(temporary.path, target.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw EngineError.io("cannot rename \(temporary.path) to \(name): \(reason)")
        }
    }

    /// Removes `prefix`PID files whose process no longer runs (a run killed mid-write), or is this one.
    static func removeStaleTemporaries(in directory: URL, prefix: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let pid = pid_t(name.dropFirst(prefix.count)) else { continue }
            if pid == getpid() || (kill(pid, 0) != 0 && errno == ESRCH) {
                try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
            }
        }
    }
}
