import ArgumentParser
import Foundation
import MobileNetCPU

/// `mobilenet download`: the official archive, resumable and verified.
struct Download: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download an official CIFAR archive (resumable, MD5-checked). Training reads the archive as it is.")

    @Option(help: "Folder to download into.")
    var to = "data"

    @Option(help: "cifar10 or cifar100.")
    var dataset: CIFARVariant = .cifar10

    @Option(help: "binary or python.")
    var format: CIFARFormat = .binary

    func run() throws {
        let archive = CIFARDownload.archive(dataset, format)
        note("downloading \(archive.url.absoluteString) into \(to)")
        let bar = ProgressBar()
        let start = Date()
        let url = try CIFARDownload.download(archive, to: URL(fileURLWithPath: to)) { done, total in
            let t = total ?? archive.size
            let rate = Double(done) / max(Date().timeIntervalSince(start), 1e-3)
            bar.update(
                done: Int(done / 1_000_000), total: Int(t / 1_000_000),
                detail: String(format: "MB  %.1f MB/s  ETA %@", rate / 1e6, clock(Double(t - done) / max(rate, 1))))
        }
        bar.finishLine()
        print("\(url.path): MD5 \(archive.md5) verified. Train with: mobilenet train --data \(to)")
    }
}
