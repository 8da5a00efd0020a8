import ConvEngine
import Foundation

/// An official `.tar.gz` archive, inflated in memory.
final class ArchiveReader {
    let url: URL
    let files: [String: ArraySlice<UInt8>]

    init(url: URL) throws {
        self.url = url
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw EngineError.io("cannot read \(url.path)")
        }
        let tar = try Gzip.decompress([UInt8](data), source: url.path)
        files = try Tar.files(in: tar, source: url.path)
    }
}
