import ArgumentParser
import Foundation
import MobileNetCPU

/// `mobilenet train`: trains a model on CIFAR or the synthetic set.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model, with evaluation every epoch, checkpoints and a JSON Lines log.")

    @OptionGroup var model: ModelOptions

    @Option(help: DataSource.help)
    var data: String?

    @Option(help: "Epochs to train (default 10 unless --steps is given).")
    var epochs: Int?

    @Option(help: "Steps to train, instead of --epochs.")
    var steps: Int?

    @Option(help: "Images per step.")
    var batchSize = 128

    @Option(help: "sgd, adam or adamw.")
    var optimizer: TrainingOptions.OptimizerKind = .sgd

    @Option(help: "Peak learning rate (default 0.1 for sgd, 0.001 for adam and adamw).")
    var lr: Float?

    @Option(help: "SGD momentum.")
    var momentum: Float = 0.9

    @Flag(help: "Nesterov momentum (sgd).")
    var nesterov = false

    @Option(help: "Weight decay: L2 for sgd and adam, decoupled for adamw (default 5e-4 for sgd, 0 for adam, 0.01 for adamw).")
    var weightDecay: Float?

    @Option(help: "Learning-rate schedule: constant, step (÷10 at 50% and 75%) or cosine.")
    var schedule: TrainingOptions.ScheduleKind = .cosine

    @Option(help: "Steps of linear warm-up.")
    var warmup = 0

    @Option(help: "Label smoothing ε.")
    var labelSmoothing: Float = 0

    @Flag(inversion: .prefixedNo, help: "Random crop (padding 4) and horizontal flip.")
    var augment = true

    @Option(help: "Pixel scaling: meanstd (per-channel mean/std) or seed (pixel/127.5 − 1).")
    var normalize: TrainingOptions.NormalizationKind = .meanstd

    @Option(help: "Seed of initialisation, data order and augmentation.")
    var seed: UInt64 = 0

    @Option(help: "Threads for the engine: its kernels and its GEMM bands (default: every core, or OPENBLAS_NUM_THREADS).")
    var threads: Int?

    @Option(help: "Evaluate every this many steps (default: every epoch).")
    var evalEvery: Int?

    @Option(help: "Append training events to this JSON Lines file.")
    var log: String?

    @Option(help: "Save checkpoints here (each epoch and at the end, atomically; the best as FILE.best.safetensors).")
    var checkpoint: String?

    @Option(help: "Continue the run saved in this checkpoint.")
    var resume: String?

    @Flag(help: "Print the final summary as JSON on standard output.")
    var json = false

    func validate() throws {
        if epochs != nil && steps != nil { throw ValidationError("give --epochs or --steps, not both") }
        if let epochs, epochs <= 0 { throw ValidationError("--epochs must be positive, got \(epochs)") }
        if let steps, steps <= 0 { throw ValidationError("--steps must be positive, got \(steps)") }
        if batchSize <= 0 { throw ValidationError("--batch-size must be positive, got \(batchSize)") }
        if let threads, threads <= 0 { throw ValidationError("--threads must be positive, got \(threads)") }
        if let resume, !FileManager.default.fileExists(atPath: resume) { throw ValidationError("--resume: no file at \(resume)") }
        if let data, data != "synthetic", !FileManager.default.fileExists(atPath: data) {
            throw ValidationError("--data: nothing at \(data) (a CIFAR folder or archive, or 'synthetic')")
        }
        do { try options(classes: 10).validate() } catch let error as EngineError {
            throw ValidationError(error.description.replacingOccurrences(of: "invalid argument: ", with: ""))
        }
    }

    func options(classes: Int) throws -> TrainingOptions {
        let adaptive = optimizer != .sgd
        return TrainingOptions(
            model: try model.configuration(classes: classes),
            length: steps.map { .steps($0) } ?? .epochs(epochs ?? 10), batchSize: batchSize, optimizer: optimizer,
            learningRate: lr ?? (adaptive ? 1e-3 : 0.1), momentum: momentum, nesterov: nesterov,
            weightDecay: weightDecay ?? (optimizer == .sgd ? 5e-4 : optimizer == .adamw ? 0.01 : 0),
            schedule: schedule, warmupSteps: warmup, labelSmoothing: labelSmoothing, augment: augment,
            normalization: normalize, seed: seed, evaluateEvery: evalEvery)
    }

    func run() throws {
        if let threads { Parallel.setThreadCount(threads) }
        let dataset = try DataSource.load(data, seed: seed)
        let resumeFile = try resume.map { try SafeTensors(contentsOf: URL(fileURLWithPath: $0)) }
        let log = try RunLog(url: self.log.map { URL(fileURLWithPath: $0) })
        let run = try TrainingRun(options: options(classes: dataset.classNames.count), dataset: dataset,
                                  checkpoint: checkpoint.map { URL(fileURLWithPath: $0) }, log: log, resume: resumeFile)
        let o = run.options
        note("training \(o.model.displayName) on \(dataset.source): \(dataset.train.count) training, \(dataset.test.count) test images, \(dataset.classNames.count) classes")
        note("  batch \(o.batchSize), \(o.optimizer.rawValue) lr \(o.learningRate) \(o.schedule.rawValue), \(run.stepsPerEpoch) steps/epoch, \(run.totalSteps) steps"
            + (run.step > 0 ? ", resuming at step \(run.step)" : "") + ", \(Parallel.threadCount) threads (OpenBLAS \(BLAS.coreName))")
        let bar = ProgressBar()
        let summary = try run.run(progress: { p in
            bar.update(done: p.step, total: p.totalSteps, detail: String(
                format: "%.0f img/s  ETA %@  loss %.3f  acc %.1f%%  lr %.4g", p.imagesPerSecond, clock(p.remaining), p.loss, 100 * p.accuracy, p.learningRate))
        }, evaluated: { e, step in
            bar.finishLine()
            note(String(format: "epoch %.2f  step %d  test accuracy %.2f%%  test loss %.3f", Double(step) / Double(run.stepsPerEpoch), step, 100 * e.accuracy, e.loss))
        })
        bar.finishLine()
        let c = summary.cost
        if json {
            print(jsonText(["model": o.model.displayName, "standard": o.model.standard, "test_accuracy": summary.testAccuracy, "best_accuracy": summary.bestAccuracy,
                            "steps": summary.steps, "wall_time": summary.wallTime, "images_per_second": summary.imagesPerSecond,
                            "macs": c.model.multiplyAccumulates, "params": c.model.parameters,
                            "baseline_macs": c.baseline.multiplyAccumulates, "baseline_params": c.baseline.parameters]))
            return
        }
        print("""
            \(o.model.displayName): test accuracy \(String(format: "%.2f%%", 100 * summary.testAccuracy)) (best \(String(format: "%.2f%%", 100 * summary.bestAccuracy))) after \(summary.steps) steps
              wall time \(clock(summary.wallTime)), \(String(format: "%.0f", summary.imagesPerSecond)) training images/s
              separable \(millions(c.model.multiplyAccumulates)) MACs, \(millions(c.model.parameters)) parameters\(o.model.standard ? "" : "  (trained)")
              standard  \(millions(c.baseline.multiplyAccumulates)) MACs, \(millions(c.baseline.parameters)) parameters\(o.model.standard ? "  (trained)" : "")
              MACs ratio \(String(format: "%.3f", c.macsRatio)), parameter ratio \(String(format: "%.3f", c.parameterRatio))
            """)
        if let checkpoint { print("  checkpoint \(checkpoint)" + (run.bestCheckpointURL.map { ", best \($0.path)" } ?? "")) }
    }
}
