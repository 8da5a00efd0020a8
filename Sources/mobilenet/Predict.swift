import ArgumentParser
import Foundation
import MobileNetCPU

/// `mobilenet predict`: top-k classes for images.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify images: binary PPM/PGM files (any size, resampled to 32×32) or files of CIFAR records.")

    @Option(help: "The checkpoint to use.")
    var checkpoint: String

    @Option(parsing: .unconditional, help: "How many classes to show per image.")
    var topk = 3

    @Flag(help: "Print the predictions as JSON.")
    var json = false

    @Argument(help: "Images: .ppm/.pgm files, or CIFAR .bin record files (every record is classified).")
    var images: [String]

    func validate() throws {
        if topk <= 0 { throw ValidationError("--topk must be positive, got \(topk)") }
        if images.isEmpty { throw ValidationError("give at least one image") }
        if !FileManager.default.fileExists(atPath: checkpoint) { throw ValidationError("--checkpoint: no file at \(checkpoint)") }
        for image in images where !FileManager.default.fileExists(atPath: image) { throw ValidationError("no image at \(image)") }
    }

    func run() throws {
        // Every input becomes (name, record, true label if known).
        var inputs: [(name: String, pixels: [UInt8], label: Int?)] = []
        for path in images {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            let bytes = [UInt8](data)
            if bytes.first == UInt8(ascii: "P") {
                inputs.append((path, try ImageFile.netpbm(bytes, source: path), nil))
            } else {
                for (i, record) in try ImageFile.records(bytes, source: path).enumerated() { inputs.append(("\(path)#\(i)", record.pixels, record.label)) }
            }
        }
        let model = try CheckpointModel(path: checkpoint)
        let network = try model.network(maxBatchSize: min(inputs.count, 256))
        let k = min(topk, model.configuration.classCount)
        // Stored labels outside the model's classes are shown by number, never looked up.
        let set = try LabeledImages(pixels: inputs.flatMap(\.pixels), labels: inputs.map { _ in 0 })
        let variant: CIFARVariant = model.configuration.classCount == 100 ? .cifar100 : .cifar10
        let names = model.classNames
        func name(_ label: Int) -> String { label < names.count ? names[label] : "label \(label)" }
        let e = try Evaluation.run(network, on: set, normalization: model.normalization(for: variant),
                                   classCount: model.configuration.classCount, keepLogits: true)
        var results: [[String: Any]] = []
        for (i, input) in inputs.enumerated() {
            let z = e.logits![(i * model.configuration.classCount)..<((i + 1) * model.configuration.classCount)]
            let m = z.max()!
            let exps = z.map { exp(Double($0 - m)) }, total = exps.reduce(0, +)
            let ranked = exps.enumerated().sorted { $0.element > $1.element }.prefix(k)
            let top = ranked.map { ["class": name($0.offset), "index": $0.offset, "probability": $0.element / total] as [String: Any] }
            var entry: [String: Any] = ["image": input.name, "top": top]
            if let label = input.label { entry["label"] = name(label) }
            results.append(entry)
            if !json {
                let text = ranked.map { "\(name($0.offset)) \(String(format: "%.1f%%", 100 * $0.element / total))" }.joined(separator: ", ")
                print("\(input.name): \(text)" + (input.label.map { "  (label: \(name($0)))" } ?? ""))
            }
        }
        if json { print(try jsonText(results)) }
    }
}
