import ArgumentParser
import Distributed
import Foundation
import MobileNetCPU

/// `mobilenet train`: trains a model on CIFAR or the synthetic set.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model, with evaluation every epoch, checkpoints and a JSON Lines log.",
        discussion: """
            With --resume FILE the run continues exactly as it was recorded: its options, its data \
            (the path it recorded, unless --data is given) and its checkpoint path (FILE, unless \
            --checkpoint is given). --epochs, --steps and --eval-every may change; any other option given \
            must equal the recorded one. A FILE that holds weights only (from `mobilenet import`, the C \
            API or Python) starts a new run from those weights, with the options given (the model's \
            default to FILE's), saving only to --checkpoint.

            Started by mpirun (mpirun -np N mobilenet train …), N processes on one host or many train one \
            model together: --batch-size is the global batch, cut into N equal parts, and gradients are \
            averaged across processes, so the run is the one a single process makes (with \
            --sync-batchnorm, for models with batch norm too). Process 0 writes the log, the progress \
            and the checkpoints; the data must be at the same path on every host.
            """)

    @Option(
        help: """
            A named set of options that fills every option not given: cifar10-fast (MobileNet 0.75 \
            on CIFAR-10 for 24 epochs, about 45 minutes on two cores; see docs/time-to-accuracy.md).
            """)
    var recipe: Recipe?

    @OptionGroup var model: ModelOptions

    @OptionGroup var baseline: StandardOption

    @Option(help: DataSource.help)
    var data: String?

    @Flag(help: "In an image folder, leave out (and count) files that cannot be decoded instead of stopping.")
    var skipBadImages = false

    @Flag(
        help: "In an image folder, decode images as batches need them, on background threads, even when all would fit in memory.")
    var decodeOnTheFly = false

    @Option(parsing: .unconditional, help: "Epochs to train. (default: 10 unless --steps is given)")
    var epochs: Int?

    @Option(parsing: .unconditional, help: "Steps to train, instead of --epochs.")
    var steps: Int?

    @Option(parsing: .unconditional, help: "Images per step. (default: 128)")
    var batchSize: Int?

    @Option(help: "sgd, adam or adamw. (default: sgd)")
    var optimizer: TrainingOptions.OptimizerKind?

    @Option(parsing: .unconditional, help: "Peak learning rate. (default: 0.1 for sgd, 0.001 for adam and adamw)")
    var lr: Float?

    @Option(parsing: .unconditional, help: "SGD momentum. (default: 0.9)")
    var momentum: Float?

    @Flag(inversion: .prefixedNo, help: "Nesterov momentum (sgd). (default: off)")
    var nesterov: Bool?

    @Option(
        parsing: .unconditional,
        help: "Weight decay: L2 for sgd and adam, decoupled for adamw. (default: 5e-4 for sgd, 0 for adam, 0.01 for adamw)")
    var weightDecay: Float?

    @Option(
        help:
            "Learning-rate schedule after --warmup: constant, step (÷10 at 50% and 75%), cosine, or onecycle (linear to 0). (default: cosine)"
    )
    var schedule: TrainingOptions.ScheduleKind?

    @Option(parsing: .unconditional, help: "Steps of linear warm-up. (default: 0)")
    var warmup: Int?

    @Option(
        help:
            "The parameters weight decay applies to: all, weights (not biases nor batch norm's scale and shift), or all-but-depthwise (not the depthwise filters). (default: all)"
    )
    var weightDecayOn: DecayScope?

    @Option(parsing: .unconditional, help: "Label smoothing ε. (default: 0)")
    var labelSmoothing: Float?

    @Option(
        parsing: .unconditional,
        help:
            "Evaluate and save for evaluation an exponential moving average of the weights with this decay, e.g. 0.998; 0: none. (default: none)"
    )
    var ema: Float?

    @Option(
        parsing: .unconditional,
        help: "Blank a square of this side at a random place in each training image (Cutout); 0: none. (default: 0)")
    var cutout: Int?

    @Flag(inversion: .prefixedNo, help: "Random crop (padding 4) and horizontal flip. (default: on)")
    var augment: Bool?

    @Option(help: "Pixel scaling: meanstd (per-channel mean/std) or seed (pixel/127.5 − 1). (default: meanstd)")
    var normalize: TrainingOptions.NormalizationKind?

    @Option(parsing: .unconditional, help: "Seed of initialisation, data order and augmentation. (default: 0)")
    var seed: UInt64?

    @Option(
        parsing: .unconditional,
        help: "Threads for the engine: its kernels and its GEMM bands (default: every core, or OPENBLAS_NUM_THREADS).")
    var threads: Int?

    @Option(
        help:
            "How convolutions run: auto (the fastest measured per shape), im2col (the plain lowering), direct or winograd (wherever they apply)."
    )
    var convAlgorithm: ConvolutionAlgorithm = .auto

    @Flag(
        inversion: .prefixedNo,
        help: "Evaluate with each test image's logits averaged with its mirror's (as eval --flip-tta). (default: off)")
    var evalFlipTta: Bool?

    @Option(parsing: .unconditional, help: "Evaluate every this many steps. (default: every epoch)")
    var evalEvery: Int?

    @Option(help: "Append training events to this JSON Lines file.")
    var log: String?

    @Option(help: "Save checkpoints here (each epoch and at the end, atomically; the best as FILE.best.safetensors).")
    var checkpoint: String?

    @Option(help: "Continue the run saved in this checkpoint (and save to it, unless --checkpoint is given).")
    var resume: String?

    @Flag(help: "Print the final summary as JSON on standard output.")
    var json = false

    @Flag(
        help:
            "Under mpirun: batch norm's statistics over the global batch (its mean and variance summed across processes) instead of each process's part."
    )
    var syncBatchnorm = false

    /// The options given on the command line.
    var choices: TrainingOptions.Choices {
        var c = TrainingOptions.Choices()
        model.apply(to: &c)
        c.standard = baseline.standard ? true : nil
        c.length = steps.map { .steps($0) } ?? epochs.map { .epochs($0) }
        c.batchSize = batchSize
        c.optimizer = optimizer
        c.learningRate = lr
        c.momentum = momentum
        c.nesterov = nesterov
        c.weightDecay = weightDecay
        c.schedule = schedule
        c.warmupSteps = warmup
        c.labelSmoothing = labelSmoothing
        c.augment = augment
        c.normalization = normalize
        c.seed = seed
        c.evaluateEvery = evalEvery
        c.weightDecayScope = weightDecayOn
        c.emaDecay = ema
        c.cutout = cutout
        c.recipe = recipe
        c.evaluateFlipped = evalFlipTta
        return c
    }

    func validate() throws {
        if epochs != nil && steps != nil { throw ValidationError("give --epochs or --steps, not both") }
        try validateThreads(threads)
        if let resume, !FileManager.default.fileExists(atPath: resume) { throw ValidationError("--resume: no file at \(resume)") }
        if let data, data != "synthetic", !FileManager.default.fileExists(atPath: data) {
            throw ValidationError("--data: nothing at \(data) (a CIFAR folder or archive, or 'synthetic')")
        }
        if resume == nil {
            do { _ = try choices.options(classCount: 10) } catch let error as TrainingOptions.OptionError {
                throw error.usageError
            } catch let error as EngineError {
                throw ValidationError(error.message)
            }
        }
    }

    func run() throws {
        guard let group = try MPIProcessGroup.launched() else { return try train(group: nil) }
        do {
            try train(group: group)
            group.finalize()
        } catch {
            group.fail(with: error, command: Train.self)
        }
    }

    /// Trains, as one process or as `group.rank` of a data-parallel run, where process 0 alone
    /// reads the checkpoint to resume (the others receive its bytes) and speaks.
    private func train(group: MPIProcessGroup?) throws {
        if let threads { Parallel.setThreadCount(threads) } else { group?.shareCores() }
        let speaks = group.map { $0.rank == 0 } ?? true
        let say: (String) -> Void = { if speaks { note($0) } }
        let purpose = (["mobilenet"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        // Resuming: the checkpoint's record says what the run was; the command line may only extend it.
        // Under mpirun, process 0 reads (and checks) the checkpoint and the others receive it: the
        // file need only be on process 0's host.
        let resumeFile = try resume.map { path in
            guard let group, group.processCount > 1 else { return try SafeTensors(contentsOf: URL(fileURLWithPath: path)) }
            if group.rank == 0 {
                let file = try SafeTensors(contentsOf: URL(fileURLWithPath: path))
                _ = try group.broadcast(file.serialized())
                return file
            }
            return try SafeTensors(bytes: group.broadcast([]), source: "\(path) (from process 0)")
        }
        let record = try resumeFile.map { try CheckpointRecord(metadata: $0.metadata) }
        // Weights only: a new run from them, its model the checkpoint's unless the options say otherwise.
        let initialWeights = record?.holdsWeightsOnly == true ? record?.model : nil
        var choices = self.choices
        if let initialWeights { choices.defaultModel(to: initialWeights) }
        let recorded = try record.flatMap { record -> TrainingOptions? in
            if record.holdsWeightsOnly { return nil }
            guard let options = record.options else {
                throw EngineError.corruptData(
                    "\(resume ?? ""): holds weights but no training run to continue (no run.* metadata)")
            }
            return options
        }
        var changes: [String] = []
        let resolved: TrainingOptions?
        do {
            if let recorded { (resolved, changes) = try choices.resuming(recorded) } else { resolved = nil }
        } catch let error as TrainingOptions.OptionError {
            throw error.usageError
        }
        let dataArgument =
            try data
            ?? record.flatMap { record -> String? in
                if record.holdsWeightsOnly { throw ValidationError("the checkpoint records no data: give --data") }
                guard let location = record.data?.location else {
                    throw ValidationError("the checkpoint does not record where its data is: give --data")
                }
                return location
            }
        let (dataset, location) = try DataSource.load(
            dataArgument, seed: resolved?.seed ?? seed ?? 0, skipBadImages: skipBadImages,
            decodeOnTheFly: decodeOnTheFly)
        let options: TrainingOptions
        do { options = try resolved ?? choices.options(classCount: dataset.classNames.count) } catch let error
            as TrainingOptions.OptionError
        {
            throw error.usageError
        }
        // A resumed run goes on saving where it was saved, unless told otherwise.
        let checkpointPath = checkpoint ?? (initialWeights == nil ? resume : nil)
        let log = try RunLog(url: speaks ? self.log.map { URL(fileURLWithPath: $0) } : nil, purpose: purpose)
        let run: TrainingRun
        do {
            run = try TrainingRun(
                options: options, dataset: dataset, dataLocation: location,
                checkpoint: speaks ? checkpointPath.map { URL(fileURLWithPath: $0) } : nil, log: log, resume: resumeFile,
                purpose: purpose, convolutionAlgorithm: convAlgorithm, group: group, synchronizeBatchNorm: syncBatchnorm)
        } catch let error as TrainingOptions.OptionError {
            throw error.usageError
        }
        let o = run.options
        say(
            "training \(o.model.displayName) on \(dataset.source): \(dataset.train.count) training, \(dataset.test.count) test images, \(dataset.classNames.count) classes"
        )
        say(
            "  images \(dataset.storageNote), \(run.loader.options.transform.description)"
                + (dataset.skipped.isEmpty ? "" : "; \(dataset.skipped.count) unreadable file(s) skipped"))
        for change in changes { say("  resuming: \(change)") }
        if initialWeights != nil, let resume {
            say(
                "  starting from the weights in \(resume)" + (checkpointPath == nil ? " (give --checkpoint to save the run)" : "")
            )
        }
        say(
            "  batch \(o.batchSize), \(o.optimizer.rawValue) lr \(o.learningRate) \(o.schedule.rawValue), \(run.stepsPerEpoch) steps/epoch, \(run.totalSteps) steps"
                + (run.step > 0 ? ", resuming at step \(run.step)" : "")
                + ", \(Parallel.threadCount) threads (OpenBLAS \(BLAS.coreName), engine \(VectorCode.name))"
                + (group.map {
                    ", \($0.processCount) processes on \($0.hostCount) host(s), \(o.batchSize / $0.processCount) images each"
                        + (syncBatchnorm ? ", batch norm over the global batch" : ", batch norm over each process's part")
                } ?? ""))
        if let advice = OpenBLASCore.advice() { say("  note: \(advice)") }
        let extras = [
            o.recipe.map { "recipe \($0)" }, o.nesterov ? "Nesterov" : nil,
            o.weightDecay > 0
                ? "weight decay \(o.weightDecay)" + decayScopeNote(o.weightDecayScope) : nil,
            o.warmupSteps > 0 ? "warm-up \(o.warmupSteps) steps" : nil,
            o.labelSmoothing > 0 ? "label smoothing \(o.labelSmoothing)" : nil, o.cutout > 0 ? "Cutout \(o.cutout)" : nil,
            o.emaDecay.map { "evaluated with a weight average (EMA \($0))" }, o.evaluateFlipped ? "flip TTA" : nil,
        ].compactMap { $0 }
        if !extras.isEmpty { say("  " + extras.joined(separator: ", ")) }
        if run.step >= run.totalSteps {
            say("  the run already ended at step \(run.step): nothing to train (give a longer --steps or --epochs to extend it)")
        }
        let bar = ProgressBar()
        let summary = try run.run(
            progress: { p in
                guard speaks else { return }
                bar.update(
                    done: p.step, total: p.totalSteps,
                    detail: String(
                        format: "%.0f img/s  ETA %@  loss %.3f  acc %.1f%%  lr %.4g", p.imagesPerSecond, clock(p.remaining),
                        p.loss, 100 * p.accuracy, p.learningRate))
            },
            evaluated: { e, step in
                guard speaks else { return }
                bar.finishLine()
                say(
                    String(
                        format: "epoch %.2f  step %d  test accuracy %.2f%%  test loss %.3f",
                        Double(step) / Double(run.stepsPerEpoch), step, 100 * e.accuracy, e.loss))
            })
        guard speaks else { return }
        bar.finishLine()
        let c = summary.cost
        if json {
            print(
                try jsonText(TrainingReport(summary, configuration: o.model, skippedImages: dataset.skipped.count)))
            return
        }
        print(
            """
            \(o.model.displayName): test accuracy \(String(format: "%.2f%%", 100 * summary.testAccuracy)) (best \(String(format: "%.2f%%", 100 * summary.bestAccuracy))) after \(summary.steps) steps
              wall time \(clock(summary.wallTime)), \(String(format: "%.0f", summary.imagesPerSecond)) training images/s, \(String(format: "%.1f%%", 100 * summary.dataWaitFraction)) of it waiting for data
              separable \(millions(c.model.multiplyAccumulates)) MACs, \(millions(c.model.parameters)) parameters\(o.model.standard ? "" : "  (trained)")
              standard  \(millions(c.baseline.multiplyAccumulates)) MACs, \(millions(c.baseline.parameters)) parameters\(o.model.standard ? "  (trained)" : "")
              MACs ratio \(String(format: "%.3f", c.macsRatio)), parameter ratio \(String(format: "%.3f", c.parameterRatio))
            """)
        if !summary.timeToAccuracy.isEmpty {
            print(
                "  time to accuracy: "
                    + summary.timeToAccuracy.map {
                        String(
                            format: "%.0f%% at step %d (epoch %.2f) after %@", 100 * $0.threshold, $0.step, $0.epoch,
                            clock($0.time))
                    }.joined(separator: ", "))
        }
        if !dataset.skipped.isEmpty { print("  \(dataset.skipped.count) unreadable image file(s) skipped") }
        if let checkpointPath {
            print("  checkpoint \(checkpointPath)" + (run.bestCheckpointURL.map { ", best \($0.path)" } ?? ""))
        }
    }
}

/// How the run header names a weight-decay scope other than every parameter.
private func decayScopeNote(_ scope: DecayScope) -> String {
    switch scope {
    case .all: return ""
    case .weights: return " on weights only"
    case .allButDepthwise: return " on all but the depthwise filters"
    }
}
