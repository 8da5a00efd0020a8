import ArgumentParser
import Foundation
import MobileNetCPU

/// `mobilenet eval`: a checkpoint's accuracy on a test set.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint on the test set: accuracy, per-class accuracy, confusion matrix.")

    @Option(help: "The checkpoint to evaluate.")
    var checkpoint: String

    @Option(help: DataSource.help)
    var data: String?

    @Option(parsing: .unconditional, help: "Images per forward pass (at most the test set's size).")
    var batchSize = 250

    @Option(help: "Write the test-set logits as a NumPy .npy array [N, classes], in the test set's order.")
    var logits: String?

    @Flag(help: "In an image folder, leave out (and count) files that cannot be decoded instead of stopping.")
    var skipBadImages = false

    @Flag(help: "Test-time augmentation: average each image's logits with its horizontal mirror's (two passes).")
    var flipTta = false

    @Flag(help: "Print the results as JSON.")
    var json = false

    func validate() throws {
        if batchSize <= 0 { throw ValidationError("--batch-size must be positive, got \(batchSize)") }
        if !FileManager.default.fileExists(atPath: checkpoint) { throw ValidationError("--checkpoint: no file at \(checkpoint)") }
    }

    func run() throws {
        if let logits { try AtomicFile.checkWritable(URL(fileURLWithPath: logits)) }
        let model = try CheckpointModel(path: checkpoint)
        let dataset = try DataSource.load(
            data ?? model.record.data?.location, seed: model.record.options?.seed ?? 0,
            skipBadImages: skipBadImages
        ).dataset
        guard dataset.classNames.count == model.configuration.classCount else {
            throw ValidationError(
                "the checkpoint has \(model.configuration.classCount) classes, the data \(dataset.classNames.count)")
        }
        let network = try model.network(maxBatchSize: min(batchSize, dataset.test.count))
        let e = try Evaluation.run(
            network, on: dataset.test, normalization: model.normalization(for: dataset.kind),
            classCount: dataset.classNames.count, keepLogits: logits != nil, flipTestTime: flipTta)
        if let logits, let values = e.logits {
            try NumpyFile.write(values, shape: [e.count, dataset.classNames.count], to: URL(fileURLWithPath: logits))
        }
        let names = dataset.classNames
        if json {
            print(
                try jsonText(
                    EvaluationReport(e, configuration: model.configuration, classes: names, flipTestTime: flipTta)))
            return
        }
        print(
            "\(model.configuration.displayName) on \(dataset.source): \(e.count) test images"
                + (flipTta ? ", logits averaged with the mirrored images'" : ""))
        print(String(format: "accuracy %.2f%%  (%d correct), loss %.4f", 100 * e.accuracy, e.correct, e.loss))
        if names.count <= 20 {
            let width = max(10, names.map(\.count).max() ?? 0)
            print("\nper class")
            for (name, accuracy) in zip(names, e.perClassAccuracy) {
                print(
                    "  " + name.padding(toLength: width, withPad: " ", startingAt: 0) + String(format: " %6.2f%%", 100 * accuracy)
                )
            }
            print("\nconfusion matrix (rows: true class, columns: predicted)")
            print(String(repeating: " ", count: width + 2) + (0..<names.count).map { String(format: "%5d", $0) }.joined())
            for (k, row) in e.confusion.enumerated() {
                print(
                    "  " + names[k].padding(toLength: width, withPad: " ", startingAt: 0)
                        + row.map { String(format: "%5d", $0) }.joined())
            }
        } else {
            let worst = zip(names, e.perClassAccuracy).sorted { $0.1 < $1.1 }.prefix(5)
            print(
                "weakest classes: " + worst.map { "\($0.0) \(String(format: "%.1f%%", 100 * $0.1))" }.joined(separator: ", ")
                    + " (--json for all)")
        }
        if let logits { print("\nlogits [\(e.count), \(names.count)] written to \(logits)") }
    }
}
