import CIFAR
import ConvEngine
import ConvModels
import Foundation

/// One training run on a data set (CIFAR, the synthetic set, an image folder): batches prefetched
/// straight into the network at its input size, the
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
        /// The share of the training time spent waiting for the next batch of data, after the first
        /// batch (0 when the prefetching kept ahead).
        public var dataWaitFraction: Double
        /// The separable model beside its standard baseline (`options.model.standard` says which was trained).
        public var cost: CostComparison
        /// In a data-parallel run: the processes, and the seconds per step spent averaging
        /// gradients (the allreduce, with its wait for the slowest process) and the bytes each
        /// process contributed per step.
        public var processes = 1
        public var allreduceSecondsPerStep: Double?
        public var allreduceBytesPerStep: Int?
        /// When this process saw the test accuracy first reach each of `accuracyMilestones`.
        public var timeToAccuracy: [RunEvent.AccuracyReached] = []
    }

    /// The test accuracies whose first crossing a run reports (time to accuracy, as DAWNBench
    /// measures it): logged as `accuracy_reached` events and in the summary.
    public static let accuracyMilestones = [0.80, 0.85, 0.90, 0.93]

    /// The options in force (the checkpoint's when resuming).
    public let options: TrainingOptions
    /// The data.
    public let dataset: ImageDataset
    /// The network being trained.
    public let network: Sequential
    /// Its optimizer.
    public let optimizer: Optimizer
    /// The moving average of its weights that evaluations use (`options.emaDecay`), if any.
    public let average: ExponentialMovingAverage?
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
    /// The milestones reached in this process so far (those the run had reached before a resume are
    /// not repeated).
    public private(set) var milestonesReached: [RunEvent.AccuracyReached] = []
    /// The test accuracy of the last evaluation, if any.
    public private(set) var lastAccuracy: Double?

    private let loss: SoftmaxCrossEntropy
    private let group: ProcessGroup?
    private let averager: GradientAverager?
    private let checkpoint: URL?
    private let log: RunLog
    private let dataRecord: CheckpointRecord.DataRecord
    /// Locks on the checkpoint files, held for the run's life.
    private let locks: [FileLock]
    private var labels: [Int32]

    /// Prepares a run, or resumes one from a checkpoint written by a run.
    ///
    /// Everything is checked before the network is built: the options, the batch against the data,
    /// the memory the network needs, the checkpoint files (writable, and not written by another
    /// process: they stay locked until the run is released), and, when resuming, that the record is
    /// consistent and the data is the data it trained on.
    ///
    /// - Parameters:
    ///   - options: the run's options; when resuming, the recorded ones with any permitted changes
    ///     (`TrainingOptions.Choices.resuming`).
    ///   - dataset: the data; its class count must be the model's.
    ///   - dataLocation: what to load to get the data again (a path, or "synthetic"), recorded in
    ///     checkpoints so that a resumed run finds it.
    ///   - checkpoint: where to save (`FILE`, and the best as `FILE` with `.best` before the
    ///     extension, unless `FILE` is a device or FIFO).
    ///   - log: where events go.
    ///   - resume: a checkpoint to continue from; one that holds weights only (imported, or saved
    ///     through the C API or Python) starts the run at step 0 from its weights.
    ///   - purpose: what this process does, recorded in the locks for a refused second writer.
    ///   - convolutionAlgorithm: how the convolutions run (a matter of speed only; not recorded).
    ///   - group: the processes of a data-parallel run, this one among them (nil: one process).
    ///     `options.batchSize` is then the global batch, cut into equal contiguous parts; every
    ///     process starts from process 0's state; gradients, losses and evaluations are reduced
    ///     across them; only process 0 saves checkpoints (pass the others no `checkpoint` and a
    ///     disabled log).
    ///   - synchronizeBatchNorm: with a group, batch norm's training statistics span the global
    ///     batch; otherwise each process normalises by its own part (as DistributedDataParallel).
    public init(
        options: TrainingOptions, dataset: ImageDataset, dataLocation: String? = nil, checkpoint: URL?, log: RunLog,
        resume: SafeTensors? = nil, purpose: String = "training", convolutionAlgorithm: ConvolutionAlgorithm = .auto,
        group: ProcessGroup? = nil, synchronizeBatchNorm: Bool = false
    ) throws {
        try options.validate()
        let ranks = group?.processCount ?? 1
        guard options.batchSize % ranks == 0 else {
            throw EngineError.invalidArgument(
                "the batch size \(options.batchSize) is the global batch of the \(ranks) processes: it must divide by \(ranks)")
        }
        self.group = group
        guard options.model.classCount == dataset.classNames.count else {
            throw EngineError.invalidArgument(
                "the model has \(options.model.classCount) classes but the data has \(dataset.classNames.count)")
        }
        self.options = options
        self.dataset = dataset
        self.checkpoint = checkpoint
        self.log = log
        let transform = ImageTransform.choose(
            side: options.model.resolution, fixedSide: dataset.train.fixedSide, training: true,
            augment: options.augment)
        var loaderOptions = BatchLoader.Options(
            batchSize: options.batchSize, shuffle: true, transform: transform,
            normalization: options.pixelNormalization(for: dataset.kind), dropLastPartialBatch: true, seed: options.seed
        ).sharded(.init(index: group?.rank ?? 0, count: ranks))
        loaderOptions.cutout = options.cutout
        loader = try BatchLoader(images: dataset.train, options: loaderOptions)
        guard loader.itemShape == options.model.itemShape.dimensions else {
            throw EngineError.shapeMismatch(
                "the loader delivers images of \(loader.itemShape) but the model takes \(options.model.itemShape)")
        }
        stepsPerEpoch = loader.batchesPerEpoch
        totalSteps = try options.totalSteps(stepsPerEpoch: stepsPerEpoch)
        dataRecord = CheckpointRecord.DataRecord(
            classNames: dataset.classNames, source: dataset.source, location: dataLocation,
            fingerprint: dataset.train.fingerprint, kind: dataset.kind,
            fixedSide: dataset.train.fixedSide)
        let record = try resume.map { try CheckpointRecord(metadata: $0.metadata) }
        if let record, record.holdsWeightsOnly {
            guard record.model == options.model else {
                throw EngineError.invalidArgument(
                    "the checkpoint holds \(record.model.displayName), but the run trains \(options.model.displayName)")
            }
        } else if let record {
            try Self.check(record, against: dataRecord, totalSteps: totalSteps, stepsPerEpoch: stepsPerEpoch)
        }
        locks = try ([checkpoint] + [checkpoint.flatMap(Self.bestURL)]).compactMap { url in
            try url.flatMap { try FileLock(guarding: $0, purpose: purpose) }
        }
        let localBatch = options.batchSize / ranks
        try options.model.checkMemory(batchSize: localBatch)
        network = try options.model.makeNetwork(
            maxBatchSize: localBatch, seed: options.seed,
            convolutionAlgorithm: convolutionAlgorithm)
        if let group, synchronizeBatchNorm {
            for entry in network.entries { (entry.layer as? BatchNorm)?.synchronizer = group }
        }
        optimizer = try options.makeOptimizer(network.trainableParameters)
        let all = network.namedParameters.map(\.parameter)
        average = try options.emaDecay.map { try ExponentialMovingAverage(parameters: all, decay: $0) }
        loss = try SoftmaxCrossEntropy(labelSmoothing: options.labelSmoothing)
        schedule = try options.makeSchedule(totalSteps: totalSteps, stepsPerEpoch: stepsPerEpoch)
        labels = [Int32](repeating: 0, count: localBatch)
        let trainable = network.trainableParameters
        averager = group.map { GradientAverager(parameters: trainable, group: $0) }
        if let resume, let progress = record?.progress {
            try Checkpoint.restore(resume, into: network, optimizer: optimizer, average: average, source: "resume checkpoint")
            guard optimizer.stepCount == progress.step else {
                throw EngineError.corruptData(
                    "resume checkpoint: optimizer.step \(optimizer.stepCount) does not match run.step \(progress.step)")
            }
            step = progress.step
            bestAccuracy = progress.bestAccuracy
            lastAccuracy = progress.lastAccuracy
            try loader.seek(to: progress.position)
        } else if let resume {
            try Checkpoint.restore(resume, into: network, source: "initial weights")
            average.map { $0.restart() }
        }
        if let group { try startTogether(group, synchronizeBatchNorm: synchronizeBatchNorm) }
    }

    /// Makes every process start from process 0's state: the same options and data first (an error
    /// names a process that differs), then process 0's weights, optimizer state and progress,
    /// broadcast and checked by a checksum on every process.
    private func startTogether(_ group: ProcessGroup, synchronizeBatchNorm: Bool) throws {
        let identity =
            options.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            + ["data=\(dataRecord.fingerprint.map { String($0, radix: 16) } ?? dataRecord.source)"]
            + ["sync_batchnorm=\(synchronizeBatchNorm)"]
        let identities = try group.gather(identity.joined(separator: "\n"))
        if let other = identities.indices.first(where: { identities[$0] != identities[0] }) {
            let theirs = Set(identities[other].split(separator: "\n")), ours = Set(identities[0].split(separator: "\n"))
            let differences = ours.symmetricDifference(theirs).map(String.init).sorted()
            throw EngineError.invalidArgument(
                "process \(other) was started with other options or data than process 0: \(differences.joined(separator: ", "))")
        }
        let state = try group.broadcast(
            group.isRoot
                ? Checkpoint.make(network: network, optimizer: optimizer, average: average, metadata: record.metadata)
                    .serialized() : [])
        let file = try SafeTensors(bytes: state, source: "process 0's state")
        if !group.isRoot {
            try Checkpoint.restore(file, into: network, optimizer: optimizer, average: average, source: "process 0's state")
            if let progress = try CheckpointRecord(metadata: file.metadata).progress {
                step = progress.step
                bestAccuracy = progress.bestAccuracy
                lastAccuracy = progress.lastAccuracy
                try loader.seek(to: progress.position)
            }
        }
        let checksum = String(
            FNV1a.hash(try Checkpoint.make(network: network, optimizer: optimizer, average: average).serialized()), radix: 16)
        let checksums = try group.gather(checksum)
        if let other = checksums.indices.first(where: { checksums[$0] != checksums[0] }) {
            throw EngineError.corruptData("process \(other) holds other weights than process 0 after the broadcast")
        }
    }

    /// Throws unless `record` describes a run this one can continue: one written by a training run,
    /// on the same data, at a step within the run, whose data position follows from its step.
    private static func check(
        _ record: CheckpointRecord, against data: CheckpointRecord.DataRecord, totalSteps: Int,
        stepsPerEpoch: Int
    ) throws {
        guard let progress = record.progress, record.options != nil else {
            throw EngineError.corruptData("resume checkpoint holds no training run to continue (no run.* metadata)")
        }
        if let recorded = record.data?.fingerprint, let given = data.fingerprint, recorded != given {
            let was = record.data.map { $0.location ?? $0.source } ?? "unknown"
            throw EngineError.invalidArgument(
                "the data at \(data.location ?? data.source) is not the data the run trained on (\(was)): their training images differ"
            )
        }
        guard progress.step <= totalSteps else {
            throw EngineError.invalidArgument(
                "the run is already at step \(progress.step), past the \(totalSteps) steps asked for")
        }
        let expected = BatchLoader.Position(epoch: progress.step / stepsPerEpoch, batch: progress.step % stepsPerEpoch)
        guard progress.position == expected else {
            throw EngineError.corruptData(
                "resume checkpoint: run.position \(progress.position) does not follow from run.step \(progress.step) (expected \(expected))"
            )
        }
    }

    /// Trains to the end, calling `progress` after every step and `evaluated` after every evaluation.
    public func run(progress: (Progress) -> Void = { _ in }, evaluated: (Evaluation, Int) -> Void = { _, _ in }) throws -> Summary
    {
        let cost = try options.model.costComparison()
        try log.write(
            .start(
                .init(
                    model: options.model.displayName, steps: totalSteps, step: step, stepsPerEpoch: stepsPerEpoch,
                    batchSize: options.batchSize, macs: cost.model.multiplyAccumulates, params: cost.model.parameters,
                    baselineMacs: cost.baseline.multiplyAccumulates, baselineParams: cost.baseline.parameters,
                    data: dataset.source, threads: Parallel.threadCount, ranks: group?.processCount ?? 1,
                    hosts: group?.hostCount ?? 1)))
        let normalization = options.pixelNormalization(for: dataset.kind)
        let wallStart = Date()
        var trainingSeconds = 0.0, dataSeconds = 0.0, imagesTrained = 0
        var emaLoss = 0.0, emaAccuracy = 0.0, emaWeight = 0.0
        var windowLoss = 0.0, windowCorrect = 0, windowImages = 0
        let logEvery = max(1, stepsPerEpoch / 20)
        var evaluatedHere = false
        loader.startPrefetching()
        defer { loader.stopPrefetching() }
        let firstStep = step
        while step < totalSteps {
            let stepStart = Date()
            let lr = schedule.rate(at: step)
            let result = try labels.withUnsafeMutableBufferPointer { l -> SoftmaxCrossEntropy.Result in
                let n = try loader.next(images: network.input.data, labels: l.baseAddress!)
                // The first batch of a process cannot be prefetched behind a step: its wait is not counted.
                if step > firstStep { dataSeconds += loader.lastWaitSeconds }
                guard let averager else {
                    return try network.trainStep(
                        labels: UnsafeBufferPointer(rebasing: l[0..<n]), loss: loss, optimizer: optimizer, learningRate: lr)
                }
                // Data-parallel: the gradients, losses and counts of the global batch.
                var global = SoftmaxCrossEntropy.Result(loss: 0, correct: 0)
                _ = try network.trainStep(
                    labels: UnsafeBufferPointer(rebasing: l[0..<n]), loss: loss, optimizer: optimizer, learningRate: lr
                ) { local in
                    let sums = try averager.average(loss: local.loss * Float(n), correct: local.correct)
                    global = .init(loss: sums.loss / Float(self.options.batchSize), correct: sums.correct)
                }
                return global
            }
            average?.update()
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
            progress(
                Progress(
                    step: step, totalSteps: totalSteps, epoch: Double(step) / Double(stepsPerEpoch),
                    loss: emaLoss / emaWeight, accuracy: emaAccuracy / emaWeight, learningRate: lr,
                    imagesPerSecond: rate, elapsed: Date().timeIntervalSince(wallStart), remaining: remaining))
            if step % logEvery == 0 || step == totalSteps {
                try log.write(
                    .step(
                        .init(
                            step: step, epoch: Double(step) / Double(stepsPerEpoch), loss: windowLoss / Double(windowImages),
                            accuracy: Double(windowCorrect) / Double(windowImages), lr: Double(lr),
                            imagesPerSecond: rate, time: Date().timeIntervalSince(wallStart))))
                (windowLoss, windowCorrect, windowImages) = (0, 0, 0)
            }
            let endOfEpoch = step % stepsPerEpoch == 0
            if step == totalSteps || (options.evaluateEvery.map { step % $0 == 0 } ?? endOfEpoch) {
                try evaluate(normalization: normalization, since: wallStart, evaluated)
                evaluatedHere = true
            }
            if endOfEpoch || step == totalSteps, let checkpoint { try save(to: checkpoint) }
        }
        // A run resumed at its end trains nothing; its summary still reports a measured accuracy.
        if !evaluatedHere { try evaluate(normalization: normalization, since: wallStart, evaluated) }
        var summary = Summary(
            testAccuracy: lastAccuracy ?? 0, bestAccuracy: bestAccuracy, steps: totalSteps,
            wallTime: Date().timeIntervalSince(wallStart),
            imagesPerSecond: imagesTrained == 0 ? 0 : Double(imagesTrained) / max(trainingSeconds, 1e-9),
            dataWaitFraction: trainingSeconds > 0 ? dataSeconds / trainingSeconds : 0, cost: cost)
        summary.timeToAccuracy = milestonesReached
        if let averager, let group {
            summary.processes = group.processCount
            summary.allreduceSecondsPerStep = averager.steps > 0 ? averager.seconds / Double(averager.steps) : 0
            summary.allreduceBytesPerStep = averager.bytes
        }
        try log.write(
            .summary(
                .init(
                    model: options.model.displayName, testAccuracy: summary.testAccuracy,
                    bestAccuracy: summary.bestAccuracy, steps: totalSteps, wallTime: summary.wallTime,
                    imagesPerSecond: summary.imagesPerSecond, dataWaitFraction: summary.dataWaitFraction,
                    macs: cost.model.multiplyAccumulates,
                    params: cost.model.parameters, baselineMacs: cost.baseline.multiplyAccumulates,
                    baselineParams: cost.baseline.parameters, standard: options.model.standard,
                    timeToAccuracy: milestonesReached)))
        return summary
    }

    /// Evaluates on the test set, logs it, and saves the best checkpoint when the accuracy is the
    /// best so far.
    ///
    /// - Throws: `EngineError.invalidArgument` when the test loss is not finite: the model diverged,
    ///   and is never saved as the best.
    private func evaluate(normalization: Normalization, since wallStart: Date, _ evaluated: (Evaluation, Int) -> Void) throws {
        let evaluation = {
            try Evaluation.run(
                self.network, on: self.dataset.test, normalization: normalization, classCount: self.dataset.classNames.count,
                shard: .init(index: self.group?.rank ?? 0, count: self.group?.processCount ?? 1),
                flipTestTime: self.options.evaluateFlipped)
        }
        var e = try average.map { try $0.withAveragesSwappedIn(evaluation) } ?? evaluation()
        if let group { e = try e.reduced(over: group) }
        let event = RunEvent.Eval(
            step: step, epoch: Double(step) / Double(stepsPerEpoch), testAccuracy: e.accuracy, testLoss: e.loss,
            time: Date().timeIntervalSince(wallStart))
        try log.write(.eval(event))
        guard e.loss.isFinite else {
            throw EngineError.invalidArgument(
                "the test loss became \(e.loss) at step \(step): the model diverged; lower the learning rate")
        }
        lastAccuracy = e.accuracy
        // Milestones the run had passed before (a resumed run's best) are not reported again.
        for threshold in Self.accuracyMilestones where e.accuracy >= threshold && bestAccuracy < threshold {
            let reached = RunEvent.AccuracyReached(threshold: threshold, at: event)
            milestonesReached.append(reached)
            try log.write(.accuracyReached(reached))
        }
        evaluated(e, step)
        if e.accuracy > bestAccuracy {
            bestAccuracy = e.accuracy
            if let best = bestCheckpointURL { try save(to: best) }
        }
    }

    /// `FILE.best.safetensors` beside `FILE.safetensors`; none when the checkpoint goes to a device
    /// or FIFO.
    public var bestCheckpointURL: URL? { checkpoint.flatMap(Self.bestURL) }

    private static func bestURL(_ checkpoint: URL) -> URL? {
        guard !AtomicFile.isWriteThrough(checkpoint) else { return nil }
        return checkpoint.deletingPathExtension().appendingPathExtension("best")
            .appendingPathExtension(checkpoint.pathExtension.isEmpty ? "safetensors" : checkpoint.pathExtension)
    }

    /// What the checkpoints of this run record beside the tensors.
    public var record: CheckpointRecord {
        CheckpointRecord(
            model: options.model, options: options,
            progress: .init(step: step, position: loader.position, bestAccuracy: bestAccuracy, lastAccuracy: lastAccuracy),
            data: dataRecord)
    }

    private func save(to url: URL) throws {
        try Checkpoint.save(network: network, optimizer: optimizer, average: average, metadata: record.metadata, to: url)
        try log.write(.checkpoint(.init(step: step, path: url.path)))
    }
}
