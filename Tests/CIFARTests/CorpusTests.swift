@_spi(Fuzzing) import CIFAR
import Foundation
import Testing

/// The readers' corpus (Tests/Corpus, written by make_corpus.py and grown by the fuzzers): every
/// file is read again, none may crash the process, and every input that once crashed a reader
/// (`crash-*`) or is known bad (`bad-*`) must be refused with an `EngineError`.
@Suite struct CIFARCorpusTests {
    static func files(_ reader: String) -> [URL] {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Corpus/\(reader)")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.sorted().map { folder.appendingPathComponent($0) }
    }

    @Test(arguments: ["pickle", "archive", "records", "images"])
    func everyCorpusFileIsReadOrRefused(_ reader: String) throws {
        let files = Self.files(reader)
        #expect(files.contains { $0.lastPathComponent.hasPrefix("valid-") }, "no seeds for \(reader)")
        for file in files {
            let bytes = [UInt8](try Data(contentsOf: file))
            switch reader {
            case "pickle": RawCIFARReaders.pickle(bytes)
            case "archive": RawCIFARReaders.archive(bytes)
            case "images": RawCIFARReaders.image(bytes)
            default: RawCIFARReaders.records(bytes)
            }
            let name = file.lastPathComponent
            if name.hasPrefix("crash-") || name.hasPrefix("bad-") {
                #expect(RawCIFARReaders.rejects(reader, bytes), "\(reader)/\(name) was not refused with an EngineError")
            }
        }
    }
}
