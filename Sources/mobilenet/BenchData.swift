import ArgumentParser
import Foundation
import MobileNetCPU

/// `mobilenet bench-data`: speed of decoding and of the input pipeline on an image folder.
struct BenchData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-data",
        abstract: "Measure image decoding and the input pipeline on an image folder (train/<class>/… and val/ or test/).",
        discussion:
            "Decodes the first --limit training files on --threads threads (JPEG through libjpeg-turbo, PNG through libpng), then delivers them as training batches at --side pixels, decoded on the fly. bench/decode_compare.py runs Pillow on the same files beside it."
    )

    @Argument(help: "The image folder.")
    var folder: String

    @Option(parsing: .unconditional, help: "Training files to decode.")
    var limit = 2000

    @Option(parsing: .unconditional, help: "Decoding threads (default: every core).")
    var threads: Int?

    @Option(parsing: .unconditional, help: "Side of the training batches.")
    var side = 224

    @Flag(help: "Print the results as JSON.")
    var json = false

    func validate() throws {
        try validateThreads(threads)
        if limit <= 0 { throw ValidationError("--limit must be positive, got \(limit)") }
        if side <= 0 || side > 4096 { throw ValidationError("--side must be in 1...4096, got \(side)") }
    }

    func run() throws {
        let benchmark = try DataBenchmark(
            root: URL(fileURLWithPath: folder), limit: limit,
            threads: threads ?? ProcessInfo.processInfo.activeProcessorCount, side: side)
        let r = try benchmark.run()
        if json {
            print(
                try jsonText([
                    "files": r.files, "threads": r.threads, "decoded_per_second": r.decodedPerSecond,
                    "batched_per_second": r.batchedPerSecond, "side": r.side,
                ]))
            return
        }
        print(
            String(
                format: "%d files, %d threads: %.0f images decoded/s; %.0f images/s as training batches of %d×%d",
                r.files, r.threads, r.decodedPerSecond, r.batchedPerSecond, r.side, r.side))
    }
}
