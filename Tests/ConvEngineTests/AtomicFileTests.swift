import ConvEngine
import Foundation
import Testing

/// Writes that never lose or replace what they must not: checkpoints, logits, charts.
@Suite struct AtomicFileTests {
    func folder() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    func kind(_ url: URL) -> mode_t {
        var info = stat()
        return lstat(url.path, &info) == 0 ? info.st_mode & S_IFMT : 0
    }

    /// A FIFO (like /dev/null, a device) is written through: a reader gets the bytes, and the path
    /// is still a FIFO afterwards, not a regular file renamed over it.
    @Test func aFIFOIsWrittenThroughNotReplaced() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("pipe")
        #expect(mkfifo(fifo.path, 0o644) == 0)
        let received = Mutexed<Data>(Data()), done = DispatchSemaphore(value: 0)
        Thread {
            let handle = FileHandle(forReadingAtPath: fifo.path)
            received.set((try? handle?.readToEnd()) ?? Data())
            done.signal()
        }.start()
        try AtomicFile.write(Data("hello".utf8), to: fifo)
        done.wait()
        #expect(received.get() == Data("hello".utf8))
        #expect(kind(fifo) == S_IFIFO)
        #expect(AtomicFile.isWriteThrough(fifo))
    }

    /// A character device stays a device (written through; /dev/full shows the write happens).
    @Test func aDeviceIsWrittenThrough() throws {
        #expect(AtomicFile.isWriteThrough(URL(fileURLWithPath: "/dev/null")))
        try AtomicFile.write(Data("x".utf8), to: URL(fileURLWithPath: "/dev/null"))
        #expect(kind(URL(fileURLWithPath: "/dev/null")) == S_IFCHR)
        #expect(throws: EngineError.self) { try AtomicFile.write(Data("x".utf8), to: URL(fileURLWithPath: "/dev/full")) }
    }

    /// A symbolic link is followed: the file it points at is replaced, the link stays a link.
    @Test func aLinkIsFollowed() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("real.bin"), link = dir.appendingPathComponent("link.bin")
        try Data("old".utf8).write(to: target)
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: target)
        try AtomicFile.write(Data("new".utf8), to: link)
        #expect(kind(link) == S_IFLNK)
        #expect(try Data(contentsOf: target) == Data("new".utf8))
    }

    @Test func aDirectoryAndAMissingFolderAreRefused() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: EngineError.self) { try AtomicFile.write(Data(), to: dir) }
        #expect(throws: EngineError.self) { try AtomicFile.checkWritable(dir) }
        let missing = dir.appendingPathComponent("no/such/folder/x.bin")
        #expect(throws: EngineError.self) { try AtomicFile.checkWritable(missing) }
        try AtomicFile.checkWritable(dir.appendingPathComponent("fine.bin"))
    }

    /// A temporary file left by a process that no longer runs is removed the next time the path is
    /// written; one of a running process is left alone.
    @Test func staleTemporaryFilesAreRemoved() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        var deadPID: pid_t = 4_000_000
        while kill(deadPID, 0) == 0 || errno != ESRCH { deadPID += 1 }
        let stale = dir.appendingPathComponent(".run.safetensors.tmp-\(deadPID)")
        let live = dir.appendingPathComponent(".run.safetensors.tmp-1")  // pid 1 always runs
        try Data("half".utf8).write(to: stale)
        try Data("half".utf8).write(to: live)
        try AtomicFile.write(Data("whole".utf8), to: dir.appendingPathComponent("run.safetensors"))
        #expect(!FileManager.default.fileExists(atPath: stale.path))
        #expect(FileManager.default.fileExists(atPath: live.path))
        #expect(try Data(contentsOf: dir.appendingPathComponent("run.safetensors")) == Data("whole".utf8))
    }

    /// A second writer of the same file is refused with a message that names the first.
    @Test func aSecondLockIsRefusedAndNamesTheHolder() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("run.safetensors")
        var first = try FileLock(guarding: url, purpose: "first run")
        #expect(first != nil)
        do {
            _ = try FileLock(guarding: url, purpose: "second run")
            Issue.record("a second lock was granted")
        } catch let error as EngineError {
            #expect("\(error)".contains("process \(getpid()): first run"), "\(error)")
        }
        first = nil
        #expect(try FileLock(guarding: url, purpose: "third run") != nil)
        #expect(try FileLock(guarding: URL(fileURLWithPath: "/dev/null"), purpose: "devices are not locked") == nil)
    }
}

/// A value shared with another thread.
final class Mutexed<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func get() -> Value { lock.withLock { value } }
    func set(_ new: Value) { lock.withLock { value = new } }
}
