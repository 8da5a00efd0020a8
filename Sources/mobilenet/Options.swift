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
        let environment = ProcessInfo.processInfo.environment["CIFAR10_DIR"]
        if argument == nil && environment == nil && !FileManager.default.fileExists(atPath: "data") {
            throw ValidationError("""
                no data given and none found: looked at $CIFAR10_DIR (unset) and ./data (missing).
                Download CIFAR-10 with `mobilenet download --to data`, point --data at a CIFAR folder or archive,
                or train offline with `--data synthetic`.
                """)
        }
        let path = argument ?? environment ?? "data"
        if path == "synthetic" {
            return try SyntheticShapes.dataset(trainCount: 10_000, testCount: 2_000, seed: seed)
        }
        return try CIFARDataset.load(from: URL(fileURLWithPath: path))
    }
}
