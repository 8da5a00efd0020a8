import ConvModels
import Foundation

/// What `train --json` prints: the run's result and the cost of its model and of the model's
/// baseline, in the vocabulary every JSON output shares.
public struct TrainingReport: Codable, Equatable, Sendable {
    public var model: String
    public var configuration: ModelConfiguration
    public var standard: Bool
    public var testAccuracy: Double
    public var bestAccuracy: Double
    public var steps: Int
    public var wallTime: Double
    public var imagesPerSecond: Double
    public var dataWaitFraction: Double
    public var macs: Int
    public var params: Int
    public var baselineMacs: Int
    public var baselineParams: Int
    public var skippedImages: Int
    /// Processes of a data-parallel run (1 without mpirun).
    public var processes: Int
    /// Seconds per step averaging gradients across processes, and the bytes averaged (absent for
    /// one process).
    public var allreduceSecondsPerStep: Double?
    public var allreduceBytesPerStep: Int?
    /// When the test accuracy first reached 80%, 85%, 90% and 93% (those it reached).
    public var timeToAccuracy: [RunEvent.AccuracyReached]

    /// The report of a finished run.
    ///
    /// - Parameter skippedImages: unreadable image files left out of the data.
    public init(_ summary: TrainingRun.Summary, configuration: ModelConfiguration, skippedImages: Int) {
        model = configuration.displayName
        self.configuration = configuration
        standard = configuration.standard
        testAccuracy = summary.testAccuracy
        bestAccuracy = summary.bestAccuracy
        steps = summary.steps
        wallTime = summary.wallTime
        imagesPerSecond = summary.imagesPerSecond
        dataWaitFraction = summary.dataWaitFraction
        processes = summary.processes
        allreduceSecondsPerStep = summary.allreduceSecondsPerStep
        allreduceBytesPerStep = summary.allreduceBytesPerStep
        timeToAccuracy = summary.timeToAccuracy
        macs = summary.cost.model.multiplyAccumulates
        params = summary.cost.model.parameters
        baselineMacs = summary.cost.baseline.multiplyAccumulates
        baselineParams = summary.cost.baseline.parameters
        self.skippedImages = skippedImages
    }
}

/// What `eval --json` prints: a model's results on a labelled set.
public struct EvaluationReport: Codable, Equatable, Sendable {
    public var model: String
    public var configuration: ModelConfiguration
    public var images: Int
    public var accuracy: Double
    /// Mean cross-entropy ("NaN" in JSON when the model's logits overflowed).
    public var loss: Double
    public var perClassAccuracy: [String: Double]
    public var classes: [String]
    /// confusion[true][predicted] counts.
    public var confusion: [[Int]]
    /// Test-time augmentation: "flip" (logits averaged with the mirrored image's) or "none".
    public var testTimeAugmentation: String

    /// The report of an evaluation of `configuration` over classes named `classes`.
    public init(_ evaluation: Evaluation, configuration: ModelConfiguration, classes: [String], flipTestTime: Bool = false) {
        testTimeAugmentation = flipTestTime ? "flip" : "none"
        model = configuration.displayName
        self.configuration = configuration
        images = evaluation.count
        accuracy = evaluation.accuracy
        loss = evaluation.loss
        perClassAccuracy = Dictionary(zip(classes, evaluation.perClassAccuracy)) { first, _ in first }
        self.classes = classes
        confusion = evaluation.confusion
    }
}
