import ArgumentParser
import Foundation
import MobileNetCPU

extension ModelFamily: ExpressibleByArgument {}
extension Stem: ExpressibleByArgument {}
extension TrainingOptions.OptimizerKind: ExpressibleByArgument {}
extension TrainingOptions.ScheduleKind: ExpressibleByArgument {}
extension TrainingOptions.NormalizationKind: ExpressibleByArgument {}
extension CIFARVariant: ExpressibleByArgument {}
extension CIFARFormat: ExpressibleByArgument {}

/// The options that choose a model, shared by `train` and `summary`.
struct ModelOptions: ParsableArguments {
    @Option(help: "The network: seed (the tutorial's) or mobilenet.")
    var model: ModelFamily = .seed

    @Option(help: "MobileNet's width multiplier α.")
    var alpha: Float = 1

    @Option(help: "Input side in pixels (default: 32, or 224 with --stem imagenet).")
    var resolution: Int?

    @Option(help: "MobileNet's first layer: cifar (32×32, stride 1) or imagenet (224·ρ, stride 2).")
    var stem: Stem = .cifar

    @Flag(help: "Use the standard-convolution baseline instead of the separable network.")
    var standard = false

    func configuration(classes: Int) throws -> ModelConfiguration {
        do {
            return try ModelConfiguration(family: model, widthMultiplier: alpha, resolution: resolution,
                                          classCount: classes, stem: stem, standard: standard)
        } catch let error as EngineError {
            throw ValidationError(error.description)
        }
    }
}

/// Resolves `--data`: a path, or `synthetic`; by default `$CIFAR10_DIR`, then `./data`.
enum DataSource {
    static let help: ArgumentHelp = "CIFAR data (a batches folder, its parent, or an official .tar.gz), or 'synthetic'. Default: $CIFAR10_DIR, then ./data."

    static func load(_ argument: String?, seed: UInt64 = 0) throws -> CIFARDataset {
        let path = argument ?? ProcessInfo.processInfo.environment["CIFAR10_DIR"] ?? "data"
        if path == "synthetic" {
            return try SyntheticShapes.dataset(trainCount: 10_000, testCount: 2_000, seed: seed)
        }
        return try CIFARDataset.load(from: URL(fileURLWithPath: path))
    }
}

/// Formats seconds as m:ss or h:mm:ss.
func clock(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "--:--" }
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}

/// A count for people: "4.21 M", "11.5k", or the plain number below ten thousand.
func millions(_ n: Int) -> String {
    if n >= 1_000_000 { return String(format: "%.2f M", Double(n) / 1e6) }
    if n >= 10_000 { return String(format: "%.1fk", Double(n) / 1e3) }
    return "\(n)"
}

/// Writes a line to standard error.
func note(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }

/// JSON text of a value made of dictionaries, arrays, strings and numbers.
func jsonText(_ object: Any) -> String {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data("{}".utf8)
    return String(decoding: data, as: UTF8.self)
}
