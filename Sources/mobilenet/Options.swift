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
extension ConvolutionAlgorithm: ExpressibleByArgument {}
extension DecayScope: ExpressibleByArgument {}
extension Recipe: ExpressibleByArgument {}

/// The options that choose a model, shared by `train`, `summary` and `bench`. Each is nil when not
/// given, so that a resumed run can tell a given option from a default.
struct ModelOptions: ParsableArguments {
    @Option(help: "The network: seed (the tutorial's) or mobilenet. (default: seed)")
    var model: ModelFamily?

    @Option(parsing: .unconditional, help: "MobileNet's width multiplier α. (default: 1)")
    var alpha: Float?

    @Option(parsing: .unconditional, help: "Input side in pixels (default: 32, or 224 with --stem imagenet).")
    var resolution: Int?

    @Option(help: "MobileNet's first layer: cifar (32×32, stride 1) or imagenet (224·ρ, stride 2). (default: cifar)")
    var stem: Stem?

    @Option(
        parsing: .unconditional,
        help: """
            MobileNet's output stride, input side ÷ last maps' side: 16 with the cifar stem, 32 with imagenet; \
            each halving runs the last stride-2 block at stride 1. (default: the stem's)
            """)
    var outputStride: Int?

    /// The model; `standard` for its standard-convolution baseline.
    func configuration(classes: Int, standard: Bool = false) throws -> ModelConfiguration {
        do {
            return try ModelConfiguration(
                family: model ?? .seed, widthMultiplier: alpha ?? 1, resolution: resolution,
                classCount: classes, stem: stem ?? .cifar, standard: standard, outputStride: outputStride)
        } catch let error as EngineError {
            throw ValidationError(error.message)
        }
    }

    /// These options as training choices.
    func apply(to choices: inout TrainingOptions.Choices) {
        choices.family = model
        choices.widthMultiplier = alpha
        choices.resolution = resolution
        choices.stem = stem
        choices.outputStride = outputStride
    }
}

/// The flag that picks a model's standard-convolution baseline (`train`, `bench`; `summary` always
/// shows both).
struct StandardOption: ParsableArguments {
    @Flag(help: "Use the standard-convolution baseline instead of the separable network.")
    var standard = false
}

/// The command line's spelling of each training option, for messages.
extension TrainingOptions.Option {
    var flag: String {
        switch self {
        case .model: return "--model"
        case .widthMultiplier: return "--alpha"
        case .resolution: return "--resolution"
        case .stem: return "--stem"
        case .outputStride: return "--output-stride"
        case .standard: return "--standard"
        case .epochs: return "--epochs"
        case .steps: return "--steps"
        case .batchSize: return "--batch-size"
        case .optimizer: return "--optimizer"
        case .learningRate: return "--lr"
        case .momentum: return "--momentum"
        case .nesterov: return "--nesterov"
        case .weightDecay: return "--weight-decay"
        case .schedule: return "--schedule"
        case .warmupSteps: return "--warmup"
        case .labelSmoothing: return "--label-smoothing"
        case .augment: return "--augment"
        case .normalization: return "--normalize"
        case .seed: return "--seed"
        case .evaluateEvery: return "--eval-every"
        case .weightDecayScope: return "--weight-decay-on"
        case .emaDecay: return "--ema"
        case .cutout: return "--cutout"
        case .recipe: return "--recipe"
        case .evaluateFlipped: return "--eval-flip-tta"
        }
    }
}

extension TrainingOptions.OptionError {
    /// The error as a usage error that names the flag.
    var usageError: ValidationError { ValidationError("\(option.flag) \(problem)") }
}

extension EngineError {
    /// The sentence without its category ("batch size must be positive, got 0").
    var message: String {
        switch self {
        case .shapeMismatch(let m), .invalidArgument(let m), .corruptData(let m), .io(let m): return m
        }
    }
}

/// Throws unless `threads` is a thread count the engine takes.
func validateThreads(_ threads: Int?) throws {
    guard let threads else { return }
    guard threads >= 1 && threads <= Parallel.maximumThreadCount else {
        throw ValidationError("--threads must be in 1...\(Parallel.maximumThreadCount), got \(threads)")
    }
}

/// Resolves `--data`: a path, or `synthetic`; by default `$CIFAR10_DIR`, then `./data`.
enum DataSource {
    static let help: ArgumentHelp = """
        CIFAR data (a batches folder, its parent, or an official .tar.gz), an image folder (ROOT with \
        train/<class>/ and val/ or test/), or 'synthetic'. Default: $CIFAR10_DIR, then ./data.
        """

    /// The data set, and what to load to get it again (an absolute path, or "synthetic").
    ///
    /// - Parameters:
    ///   - skipBadImages: in an image folder, leave out files that cannot be decoded.
    ///   - decodeOnTheFly: in an image folder, decode images as batches need them even when all would
    ///     fit in memory.
    static func load(
        _ argument: String?, seed: UInt64 = 0, skipBadImages: Bool = false,
        decodeOnTheFly: Bool = false
    ) throws -> (dataset: ImageDataset, location: String) {
        let environment = ProcessInfo.processInfo.environment["CIFAR10_DIR"]
        if argument == nil && environment == nil && !FileManager.default.fileExists(atPath: "data") {
            throw ValidationError(
                """
                no data given and none found: looked at $CIFAR10_DIR (unset) and ./data (missing).
                Download CIFAR-10 with `mobilenet download --to data`, point --data at a CIFAR folder or archive
                or an image folder, or train offline with `--data synthetic`.
                """)
        }
        let path = argument ?? environment ?? "data"
        if path == "synthetic" {
            return (ImageDataset(try SyntheticShapes.dataset(trainCount: 10_000, testCount: 2_000, seed: seed)), path)
        }
        let url = URL(fileURLWithPath: path).standardizedFileURL
        if ImageFolder.isRoot(url) {
            let dataset = try ImageFolder.load(
                from: url, skipBadImages: skipBadImages,
                memoryBudget: decodeOnTheFly ? 0 : ImageFolder.defaultMemoryBudget)
            if !dataset.skipped.isEmpty {
                note("skipped \(dataset.skipped.count) unreadable image file(s), for example: \(dataset.skipped[0])")
            }
            return (dataset, url.path)
        }
        return (ImageDataset(try CIFARDataset.load(from: url)), url.path)
    }
}
