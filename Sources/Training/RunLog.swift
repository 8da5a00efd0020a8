import ConvEngine
import Foundation

/// A training log in JSON Lines: one object per line, flushed as it is written, so a crashed run
/// keeps everything up to its last line. Events: "start", "step", "eval", "checkpoint", "summary".
public final class RunLog {
    private let handle: FileHandle?

    /// Appends to `url` (created if missing), or logs nowhere when nil.
    public init(url: URL?) throws {
        guard let url else { handle = nil; return }
        if !FileManager.default.fileExists(atPath: url.path) {
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                throw EngineError.io("cannot create log file \(url.path)")
            }
        }
        guard let h = try? FileHandle(forWritingTo: url) else { throw EngineError.io("cannot write log file \(url.path)") }
        try h.seekToEnd()
        handle = h
    }

    deinit { try? handle?.close() }

    /// Writes one event with its fields.
    public func write(_ event: String, _ fields: [String: Any]) {
        guard let handle else { return }
        var object = fields
        object["event"] = event
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        try? handle.write(contentsOf: data + Data("\n".utf8))
    }

    /// Reads every event of a log file.
    ///
    /// - Throws: `EngineError.corruptData` naming the line that is not a JSON object.
    public static func read(_ url: URL) throws -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw EngineError.io("cannot read log \(url.path)") }
        return try String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated().map { i, line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw EngineError.corruptData("\(url.path): line \(i + 1) is not a JSON object")
            }
            return object
        }
    }
}
