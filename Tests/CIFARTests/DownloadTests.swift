import CIFAR
import ConvEngine
import Foundation
import Testing

/// The download logic against a server on 127.0.0.1; no test touches the network.
@Suite(.serialized) struct DownloadTests {
    let payload: [UInt8] = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 7) }

    func setUp() throws -> (LoopbackHTTPServer, URL, CIFARDownload.Archive) {
        let server = try LoopbackHTTPServer(payload: payload)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("download-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let reference = dir.appendingPathComponent("reference")
        try Data(payload).write(to: reference)
        let md5 = try CIFARDownload.md5(of: reference)
        try FileManager.default.removeItem(at: reference)
        return (
            server, dir,
            CIFARDownload.Archive(name: "cifar-10-binary.tar.gz", url: server.url, md5: md5, size: Int64(payload.count))
        )
    }

    @Test func anInterruptedDownloadResumesWithARangeRequest() throws {
        let (server, dir, archive) = try setUp()
        defer {
            server.stop()
            try? FileManager.default.removeItem(at: dir)
        }
        let final = dir.appendingPathComponent(archive.name), part = dir.appendingPathComponent(archive.name + ".part")
        server.cutNextResponseAfter = 120_000
        #expect(throws: EngineError.self) { try CIFARDownload.download(archive, to: dir) }
        #expect(!FileManager.default.fileExists(atPath: final.path), "a partial file sits under the final name")
        let partial = try Data(contentsOf: part)
        #expect(partial.count == 120_000 && Array(partial) == Array(payload.prefix(120_000)))

        var reports: [Int64] = []
        let url = try CIFARDownload.download(archive, to: dir) { done, total in
            reports.append(done)
            #expect(total == Int64(300_000))
        }
        #expect(url == final)
        #expect(server.requestRanges == [nil, "bytes=120000-"])
        #expect(Array(try Data(contentsOf: final)) == payload)
        #expect(!FileManager.default.fileExists(atPath: part.path))
        #expect(try #require(reports.first) > 120_000 && reports.last == 300_000)
        // Present and verified: no new request.
        _ = try CIFARDownload.download(archive, to: dir)
        #expect(server.requestRanges.count == 2)
    }

    @Test func aServerThatIgnoresRangesStartsOver() throws {
        let (server, dir, archive) = try setUp()
        defer {
            server.stop()
            try? FileManager.default.removeItem(at: dir)
        }
        try Data(payload.prefix(5000).map { $0 ^ 0xFF }).write(to: dir.appendingPathComponent(archive.name + ".part"))
        server.ignoreRanges = true
        let url = try CIFARDownload.download(archive, to: dir)
        #expect(server.requestRanges == ["bytes=5000-"])
        #expect(Array(try Data(contentsOf: url)) == payload)
    }

    @Test func aChecksumMismatchIsAnErrorAndLeavesNothing() throws {
        let (server, dir, good) = try setUp()
        defer {
            server.stop()
            try? FileManager.default.removeItem(at: dir)
        }
        var archive = good
        archive.md5 = "00000000000000000000000000000000"
        do {
            try CIFARDownload.download(archive, to: dir)
            Issue.record("a wrong MD5 was accepted")
        } catch let error as EngineError {
            #expect("\(error)".contains("does not match the published 00000000000000000000000000000000"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func theOfficialArchivesAreListedWithTheirChecksums() {
        #expect(CIFARDownload.archive(.cifar10, .binary).md5 == "c32a1d4ab5d03f1284b67883e8d87530")
        #expect(CIFARDownload.archive(.cifar10, .python).md5 == "c58f30108f718f92721af3b95e74349a")
        #expect(
            CIFARDownload.archive(.cifar10, .python).url.absoluteString
                == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz")
        #expect(CIFARDownload.archive(.cifar100, .python).md5 == "eb9058c3a382ffc7106e4002c42a8d85")
    }
}
