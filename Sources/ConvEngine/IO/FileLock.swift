import Foundation

/// An advisory lock that keeps a second process from writing the same files, held until it is
/// released or the process ends (the kernel drops a dead process's locks, so no stale lock outlives
/// a crash).
///
/// The lock is `flock` on a small file beside the guarded one (`.NAME.lock`), which also records who
/// holds it, so that the refusal names the other process. Devices and FIFOs are not locked: writing
/// them replaces nothing.
public final class FileLock {
    private let descriptor: Int32

    /// Takes the lock on `url` for this process.
    ///
    /// - Parameters:
    ///   - url: the file to guard.
    ///   - purpose: what this process does with it, recorded for whoever is refused.
    /// - Throws: `EngineError.io` when another process holds it (naming that process and its
    ///   command line), or when the lock file cannot be made (the folder is missing or not writable).
    public init?(guarding url: URL, purpose: String) throws {
        let target = AtomicFile.target(of: url)
        if AtomicFile.isWriteThrough(target) { return nil }
        try AtomicFile.checkWritable(target)
        let lockPath = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).lock").path
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw EngineError.io("cannot create the lock file \(lockPath): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            let holder = Self.holder(fd)
            close(fd)
            if busy {
                throw EngineError.io(
                    "\(url.path) is being written by another process (\(holder)); "
                        + "wait for it to finish or choose another path")
            }
            throw EngineError.io("cannot lock \(url.path): \(String(cString: strerror(errno)))")
        }
        let note = "process \(getpid()): \(purpose)\n"
        ftruncate(fd, 0)
        _ = note.withCString { pwrite(fd, $0, strlen($0), 0) }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// What the lock file says of its holder.
    private static func holder(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = pread(fd, &buffer, buffer.count, 0)
        let text = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
        return text.isEmpty ? "process unknown" : text
    }
}
