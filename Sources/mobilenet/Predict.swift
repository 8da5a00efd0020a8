import ArgumentParser
import Foundation
import MobileNetCPU

/// `mobilenet predict`: top-k classes for images.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify images: JPEG, PNG or binary PPM/PGM files of any size, or files of CIFAR records.",
        discussion:
            "Each image is prepared as evaluation prepared the model's data: resized to the model's input size, or resized and centre-cropped when it trained on an image folder of varying sizes."
    )

    @Option(help: "The checkpoint to use.")
    var checkpoint: String

    @Option(parsing: .unconditional, help: "How many classes to show per image.")
    var topk = 3

    @Flag(help: "Print the predictions as JSON.")
    var json = false

    @Argument(help: "Images: JPEG, PNG, PPM/PGM files, or CIFAR .bin record files (every record is classified).")
    var images: [String]

    func validate() throws {
        if topk <= 0 { throw ValidationError("--topk must be positive, got \(topk)") }
        if images.isEmpty { throw ValidationError("give at least one image") }
        if !FileManager.default.fileExists(atPath: checkpoint) { throw ValidationError("--checkpoint: no file at \(checkpoint)") }
        for image in images where !FileManager.default.fileExists(atPath: image) { throw ValidationError("no image at \(image)") }
    }

    func run() throws {
        // Every input becomes (name, image, true label if known).
        var inputs: [(name: String, image: RGBImage, label: Int?)] = []
        for path in images {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            let bytes = [UInt8](data)
            if ImageDecoder.format(of: bytes) != nil {
                inputs.append((path, try ImageDecoder.decode(bytes, source: path), nil))
            } else {
                for (i, record) in try ImageFile.records(bytes, source: path).enumerated() {
                    let image = record.pixels.withUnsafeBufferPointer { RGBImage(planarRecord: $0.baseAddress!) }
                    inputs.append(("\(path)#\(i)", image, record.label))
                }
            }
        }
        let model = try CheckpointModel(path: checkpoint)
        let network = try model.network(maxBatchSize: min(inputs.count, 256))
        let k = min(topk, model.configuration.classCount)
        // Stored labels outside the model's classes are shown by number, never looked up.
        let set = try ImageSet(images: inputs.map(\.image), labels: inputs.map { _ in 0 })
        let names = model.classNames
        func name(_ label: Int) -> String { label < names.count ? names[label] : "label \(label)" }
        let e = try Evaluation.run(
            network, on: set, normalization: model.normalization(for: model.dataKind),
            classCount: model.configuration.classCount, transform: model.evaluationTransform, keepLogits: true)
        var results: [[String: Any]] = []
        for (i, input) in inputs.enumerated() {
            let z = e.logits![(i * model.configuration.classCount)..<((i + 1) * model.configuration.classCount)]
            let m = z.max()!
            let exps = z.map { exp(Double($0 - m)) }, total = exps.reduce(0, +)
            let ranked = exps.enumerated().sorted { $0.element > $1.element }.prefix(k)
            let top = ranked.map {
                ["class": name($0.offset), "index": $0.offset, "probability": $0.element / total] as [String: Any]
            }
            var entry: [String: Any] = ["image": input.name, "top": top]
            if let label = input.label { entry["label"] = name(label) }
            results.append(entry)
            if !json {
                let text = ranked.map { "\(name($0.offset)) \(String(format: "%.1f%%", 100 * $0.element / total))" }.joined(
                    separator: ", ")
                print("\(input.name): \(text)" + (input.label.map { "  (label: \(name($0)))" } ?? ""))
            }
        }
        if json { print(try jsonText(results)) }
    }
}
