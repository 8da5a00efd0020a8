import Foundation

/// One line of a training log (JSON Lines): what `TrainingRun` writes and `mobilenet plot` reads.
///
/// Each line is a JSON object whose `event` field names the kind and whose other fields are the
/// payload's, in snake_case. Non-finite numbers (a diverged loss) are written as the strings
/// "NaN", "Infinity" and "-Infinity", which JSON has no numbers for; readers of this type turn them
/// back into numbers.
public enum RunEvent: Equatable, Sendable {
    /// A process starts (or resumes) a run.
    case start(Start)
    /// Training progress over the steps since the last such event.
    case step(Step)
    /// An evaluation on the test set.
    case eval(Eval)
    /// A checkpoint was written.
    case checkpoint(CheckpointWritten)
    /// The test accuracy reached one of `TrainingRun.accuracyMilestones` for the first time.
    case accuracyReached(AccuracyReached)
    /// The run ended.
    case summary(Summary)

    /// A process starts (or resumes) a run.
    public struct Start: Codable, Equatable, Sendable {
        public var model: String
        public var steps: Int
        public var step: Int
        public var stepsPerEpoch: Int
        public var batchSize: Int
        public var macs: Int
        public var params: Int
        public var baselineMacs: Int
        public var baselineParams: Int
        public var data: String
        /// Engine threads per process.
        public var threads: Int
        /// Processes training together (1 without MPI); the batch size is their global batch.
        public var ranks: Int?
        /// Hosts they ran on.
        public var hosts: Int?

        /// Creates the event from its fields.
        public init(
            model: String, steps: Int, step: Int, stepsPerEpoch: Int, batchSize: Int, macs: Int, params: Int, baselineMacs: Int,
            baselineParams: Int, data: String, threads: Int, ranks: Int? = nil, hosts: Int? = nil
        ) {
            self.ranks = ranks
            self.hosts = hosts
            self.model = model
            self.steps = steps
            self.step = step
            self.stepsPerEpoch = stepsPerEpoch
            self.batchSize = batchSize
            self.macs = macs
            self.params = params
            self.baselineMacs = baselineMacs
            self.baselineParams = baselineParams
            self.data = data
            self.threads = threads
        }
    }

    /// Training progress over the steps since the last such event.
    public struct Step: Codable, Equatable, Sendable {
        public var step: Int
        public var epoch: Double
        /// Mean training loss over those steps.
        public var loss: Double
        /// Training accuracy over those steps.
        public var accuracy: Double
        public var lr: Double
        public var imagesPerSecond: Double
        /// Seconds since this process started training.
        public var time: Double

        /// Creates the event from its fields.
        public init(step: Int, epoch: Double, loss: Double, accuracy: Double, lr: Double, imagesPerSecond: Double, time: Double) {
            self.step = step
            self.epoch = epoch
            self.loss = loss
            self.accuracy = accuracy
            self.lr = lr
            self.imagesPerSecond = imagesPerSecond
            self.time = time
        }
    }

    /// An evaluation on the test set.
    public struct Eval: Codable, Equatable, Sendable {
        public var step: Int
        public var epoch: Double
        public var testAccuracy: Double
        public var testLoss: Double
        public var time: Double

        /// Creates the event from its fields.
        public init(step: Int, epoch: Double, testAccuracy: Double, testLoss: Double, time: Double) {
            self.step = step
            self.epoch = epoch
            self.testAccuracy = testAccuracy
            self.testLoss = testLoss
            self.time = time
        }
    }

    /// The first evaluation whose test accuracy reached `threshold`: time to accuracy.
    public struct AccuracyReached: Codable, Equatable, Sendable {
        /// The accuracy reached (0.9 for 90%).
        public var threshold: Double
        public var step: Int
        public var epoch: Double
        public var testAccuracy: Double
        /// Seconds since this process started training, evaluations and data loading included.
        public var time: Double

        /// Milestone `threshold`, reached by evaluation `eval`.
        public init(threshold: Double, at eval: Eval) {
            self.threshold = threshold
            (step, epoch, testAccuracy, time) = (eval.step, eval.epoch, eval.testAccuracy, eval.time)
        }
    }

    /// A checkpoint was written.
    public struct CheckpointWritten: Codable, Equatable, Sendable {
        public var step: Int
        public var path: String

        /// Creates the event from its fields.
        public init(step: Int, path: String) {
            self.step = step
            self.path = path
        }
    }

    /// The run ended: its accuracy and cost (the separable model's and its baseline's; `standard`
    /// says which of the two was trained).
    public struct Summary: Codable, Equatable, Sendable {
        public var model: String
        public var testAccuracy: Double
        public var bestAccuracy: Double
        public var steps: Int
        public var wallTime: Double
        public var imagesPerSecond: Double
        /// The share of training time spent waiting for data.
        public var dataWaitFraction: Double?
        public var macs: Int
        public var params: Int
        public var baselineMacs: Int
        public var baselineParams: Int
        public var standard: Bool
        /// The milestones this process saw the test accuracy reach, in order.
        public var timeToAccuracy: [AccuracyReached]?

        /// Creates the event from its fields.
        public init(
            model: String, testAccuracy: Double, bestAccuracy: Double, steps: Int, wallTime: Double, imagesPerSecond: Double,
            dataWaitFraction: Double?, macs: Int, params: Int, baselineMacs: Int, baselineParams: Int, standard: Bool,
            timeToAccuracy: [AccuracyReached]? = nil
        ) {
            self.timeToAccuracy = timeToAccuracy
            self.model = model
            self.testAccuracy = testAccuracy
            self.bestAccuracy = bestAccuracy
            self.steps = steps
            self.wallTime = wallTime
            self.imagesPerSecond = imagesPerSecond
            self.dataWaitFraction = dataWaitFraction
            self.macs = macs
            self.params = params
            self.baselineMacs = baselineMacs
            self.baselineParams = baselineParams
            self.standard = standard
        }
    }

    /// The value of the `event` field.
    public var name: String {
        switch self {
        case .start: return "start"
        case .step: return "step"
        case .eval: return "eval"
        case .checkpoint: return "checkpoint"
        case .accuracyReached: return "accuracy_reached"
        case .summary: return "summary"
        }
    }

    // MARK: JSON Lines

    private struct Tag: Codable { var event: String }

    /// An encoder for log lines and for `--json` output: snake_case keys, sorted, non-finite
    /// numbers as strings.
    public static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return encoder
    }

    /// A decoder that reads what `makeEncoder()` writes.
    public static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return decoder
    }

    /// The event as one line of JSON (without the newline).
    public func line() throws -> Data {
        let encoder = Self.makeEncoder()
        let payload: Data
        switch self {
        case .start(let e): payload = try encoder.encode(e)
        case .step(let e): payload = try encoder.encode(e)
        case .eval(let e): payload = try encoder.encode(e)
        case .checkpoint(let e): payload = try encoder.encode(e)
        case .accuracyReached(let e): payload = try encoder.encode(e)
        case .summary(let e): payload = try encoder.encode(e)
        }
        // {"event":"…", then the payload's fields: the tag leads, so a reader sees the kind first.
        return Data("{\"event\":\"\(name)\",".utf8) + payload.dropFirst()
    }

    /// Reads one line; nil for an event of a kind this version does not know (so newer logs still read).
    ///
    /// - Throws: `DecodingError` when the line is not an event object or misses a field of its kind.
    public init?(line: Data) throws {
        let decoder = Self.makeDecoder()
        switch try decoder.decode(Tag.self, from: line).event {
        case "start": self = .start(try decoder.decode(Start.self, from: line))
        case "step": self = .step(try decoder.decode(Step.self, from: line))
        case "eval": self = .eval(try decoder.decode(Eval.self, from: line))
        case "checkpoint": self = .checkpoint(try decoder.decode(CheckpointWritten.self, from: line))
        case "accuracy_reached": self = .accuracyReached(try decoder.decode(AccuracyReached.self, from: line))
        case "summary": self = .summary(try decoder.decode(Summary.self, from: line))
        default: return nil
        }
    }
}
