import CIFAR
import ConvEngine
import ConvModels
import Foundation

/// One training run on a CIFAR-format data set: batches prefetched straight into the network, the
/// schedule, evaluation on the test set, a JSON Lines log, and checkpoints (every epoch and at the
/// end, plus the best one) from which an interrupted run resumes exactly.
public final class TrainingRun {
    /// The state after a step, for progress bars.
    public struct Progress: Sendable {
        /// Steps done.
        public var step: Int
        /// Steps in the run.
        public var totalSteps: Int
        /// Epochs done, fractional.
        public var epoch: Double
        /// Exponential moving average of the loss.
        public var loss: Double
        /// Exponential moving average of the training accuracy.
        public var accuracy: Double
        /// Learning rate of the last step.
        public var learningRate: Float
        /// Training images per second since this process started training.
        public var imagesPerSecond: Double
        /// Seconds of training so far in this process.
        public var elapsed: Double
        /// Estimated seconds to the end.
        public var remaining: Double
    }

    /// What a finished run reports.
    public struct Summary: Sendable {
        /// Accuracy of the last evaluation (at the end of the run).
        public var testAccuracy: Double
        /// The best evaluation accuracy of the run.
        public var bestAccuracy: Double
        /// Steps in the run.
        public var steps: Int
        /// Wall-clock seconds of this process, training and evaluation.
        public var wallTime: Double
        /// Training images per second (evaluation excluded).
        public var imagesPerSecond: Double
        /// The separable model beside its standard baseline (`options.model.standard` says which was trained).
        public var cost: CostComparison
    }

    /// The options in force (the checkpoint's when resuming).
    public let options: TrainingOptions
    /// The data.
    public let dataset: CIFARDataset
    /// The network being trained.
    public let network: Sequential
    /// Its optimizer.
    public let optimizer: Optimizer
    /// The training batches.
    public let loader: BatchLoader
    /// The learning rate by step.
    public let schedule: LearningRateSchedule
    /// Steps in one epoch (full batches).
    public let stepsPerEpoch: Int
    /// Steps in the run.
    public let totalSteps: Int
    /// Steps done so far (restored on resume).
    public private(set) var step = 0
    /// The best test accuracy so far.
    public private(set) var bestAccuracy = 0.0

    private let loss: SoftmaxCrossEntropy
    private let checkpoint: URL?
    private let log: RunLog
    private var labels: [Int32]

    /// Prepares a run, or resumes one from a checkpoint written by a run.
    ///
    /// - Parameters:
    ///   - options: the run's options; ignored in favour of the checkpoint's when resuming, except
    ///     the length (so a finished run can be extended).
    ///   - dataset: the data; its class count must be the model's.
    ///   - checkpoint: where to save (`FILE`, and the best as `FILE` with `.best` before the extension).
    ///   - log: where events go.
    ///   - resume: a checkpoint to continue from.
    public init(options: TrainingOptions, dataset: CIFARDataset, checkpoint: URL?, log: RunLog,
                resume: SafeTensors? = nil) throws {
        var options = options
        if let resume {
            let length = options.length
            options = try TrainingOptions(metadata: resume.metadata)
            options.length = length
        }
        try options.validate()
        guard options.model.classCount == dataset.classNames.count else {
            throw EngineError.invalidArgument("the model has \(options.model.classCount) classes but the data has \(dataset.classNames.count)")
        }
        self.options = options
        self.dataset = dataset
        self.checkpoint = checkpoint
        self.log = log
        network = try options.model.makeNetwork(maxBatchSize: options.batchSize, seed: options.seed)
        optimizer = try options.makeOptimizer(network.trainableParameters)
        loss = try SoftmaxCrossEntropy(labelSmoothing: options.labelSmoothing)
        loader = try BatchLoader(images: dataset.train, options: .init(
            batchSize: options.batchSize, shuffle: true, augmentation: options.augment ? .standard : nil,
            normalization: options.pixelNormalization(for: dataset.variant), dropLastPartialBatch: true, seed: options.seed))
        stepsPerEpoch = loader.batchesPerEpoch
        switch options.length {
        case .epochs(let n): totalSteps = n * stepsPerEpoch
        case .steps(let n): totalSteps = n
        }
        schedule = try options.makeSchedule(totalSteps: totalSteps, stepsPerEpoch: stepsPerEpoch)
        labels = [Int32](repeating: 0, count: options.batchSize)
        if let resume {
            try Checkpoint.restore(resume, into: network, optimizer: optimizer, source: "resume checkpoint")
            guard let s = resume.metadata["run.step"].flatMap(Int.init), let p = resume.metadata["run.position"].flatMap(BatchLoader.Position.init) else {
                throw EngineError.corruptData("resume checkpoint lacks run.step or run.position")
            }
            step = s
            bestAccuracy = resume.metadata["run.best_accuracy"].flatMap(Double.init) ?? 0
            try loader.seek(to: p)
        }
    }

    /// Trains to the end, calling `progress` after every step and `evaluated` after every evaluation.
    public func run(progress: (Progress) -> Void = { _ in }, evaluated: (Evaluation, Int) -> Void = { _, _ in }) throws -> Summary {
        let cost = try options.model.costComparison()
        log.write("start", ["model": options.model.displayName, "steps": totalSteps, "step": step, "steps_per_epoch": stepsPerEpoch,
                            "batch_size": options.batchSize, "macs": cost.model.multiplyAccumulates, "params": cost.model.parameters,
                            "baseline_macs": cost.baseline.multiplyAccumulates, "baseline_params": cost.baseline.parameters,
                            "data": dataset.source, "threads": Parallel.threadCount])
        let normalization = options.pixelNormalization(for: dataset.variant)
        let wallStart = Date()
        var trainingSeconds = 0.0, imagesTrained = 0
        var emaLoss = 0.0, emaAccuracy = 0.0, emaWeight = 0.0
        var windowLoss = 0.0, windowCorrect = 0, windowImages = 0
        let logEvery = max(1, stepsPerEpoch / 20)
        var lastAccuracy = 0.0
        loader.startPrefetching()
        defer { loader.stopPrefetching() }
        let firstStep = step
        while step < totalSteps {
            let stepStart = Date()
            let lr = schedule.rate(at: step)
            let result = try labels.withUnsafeMutableBufferPointer { l -> SoftmaxCrossEntropy.Result in
                let n = loader.next(images: network.input.data, labels: l.baseAddress!)
                return try network.trainStep(labels: UnsafeBufferPointer(rebasing: l[0..<n]), loss: loss, optimizer: optimizer, learningRate: lr)
            }
            step += 1
            trainingSeconds += Date().timeIntervalSince(stepStart)
            imagesTrained += options.batchSize
            let batchAccuracy = Double(result.correct) / Double(options.batchSize)
            emaWeight = 0.98 * emaWeight + 0.02
            emaLoss = 0.98 * emaLoss + 0.02 * Double(result.loss)
            emaAccuracy = 0.98 * emaAccuracy + 0.02 * batchAccuracy
            windowLoss += Double(result.loss) * Double(options.batchSize)
            windowCorrect += result.correct
            windowImages += options.batchSize
            let rate = Double(imagesTrained) / max(trainingSeconds, 1e-9)
            let remaining = Double(totalSteps - step) * trainingSeconds / Double(step - firstStep)
            progress(Progress(step: step, totalSteps: totalSteps, epoch: Double(step) / Double(stepsPerEpoch),
                              loss: emaLoss / emaWeight, accuracy: emaAccuracy / emaWeight, learningRate: lr,
                              imagesPerSecond: rate, elapsed: Date().timeIntervalSince(wallStart), remaining: remaining))
            if step % logEvery == 0 || step == totalSteps {
                log.write("step", ["step": step, "epoch": Double(step) / Double(stepsPerEpoch), "loss": windowLoss / Double(windowImages),
                                   "accuracy": Double(windowCorrect) / Double(windowImages), "lr": Double(lr),
                                   "images_per_second": rate, "time": Date().timeIntervalSince(wallStart)])
                (windowLoss, windowCorrect, windowImages) = (0, 0, 0)
            }
            let endOfEpoch = step % stepsPerEpoch == 0
            let evaluate = step == totalSteps || (options.evaluateEvery.map { step % $0 == 0 } ?? endOfEpoch)
            if evaluate {
                let e = try Evaluation.run(network, on: dataset.test, normalization: normalization, classCount: dataset.classNames.count)
                lastAccuracy = e.accuracy
                log.write("eval", ["step": step, "epoch": Double(step) / Double(stepsPerEpoch), "test_accuracy": e.accuracy,
                                   "test_loss": e.loss, "time": Date().timeIntervalSince(wallStart)])
                evaluated(e, step)
                if e.accuracy > bestAccuracy {
                    bestAccuracy = e.accuracy
                    if let best = bestCheckpointURL { try save(to: best) }
                }
            }
            if (endOfEpoch || step == totalSteps), let checkpoint { try save(to: checkpoint) }
        }
        let summary = Summary(testAccuracy: lastAccuracy, bestAccuracy: bestAccuracy, steps: totalSteps,
                              wallTime: Date().timeIntervalSince(wallStart),
                              imagesPerSecond: Double(imagesTrained) / max(trainingSeconds, 1e-9), cost: cost)
        log.write("summary", ["model": options.model.displayName, "test_accuracy": summary.testAccuracy,
                              "best_accuracy": summary.bestAccuracy, "steps": totalSteps, "wall_time": summary.wallTime,
                              "images_per_second": summary.imagesPerSecond, "macs": cost.model.multiplyAccumulates,
                              "params": cost.model.parameters, "baseline_macs": cost.baseline.multiplyAccumulates,
                              "baseline_params": cost.baseline.parameters, "standard": options.model.standard])
        return summary
    }

    /// `FILE.best.safetensors` beside `FILE.safetensors`.
    public var bestCheckpointURL: URL? {
        checkpoint.map { $0.deletingPathExtension().appendingPathExtension("best").appendingPathExtension($0.pathExtension.isEmpty ? "safetensors" : $0.pathExtension) }
    }

    private func save(to url: URL) throws {
        var metadata = options.metadata
        metadata["run.step"] = "\(step)"
        metadata["run.position"] = loader.position.description
        metadata["run.best_accuracy"] = "\(bestAccuracy)"
        metadata["data.classes"] = String(decoding: try JSONSerialization.data(withJSONObject: dataset.classNames), as: UTF8.self)
        metadata["data.source"] = dataset.source
        try Checkpoint.save(network: network, optimizer: optimizer, metadata: metadata, to: url)
        log.write("checkpoint", ["step": step, "path": url.path])
    }
}
