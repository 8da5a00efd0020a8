import CIFAR
import ConvEngine
import ConvModels
import Foundation

/// What a checkpoint says about itself beside its tensors: the model, the options of the run that
/// wrote it, where that run stands, and the data it trained on. The one type that writes and reads
/// the `model.*`, `run.*` and `data.*` metadata; reading checks every key, so a malformed value is an
/// error naming it, never a silent fallback.
public struct CheckpointRecord: Equatable, Sendable {
    /// Where a run stands.
    public struct Progress: Equatable, Sendable {
        /// Steps done.
        public var step: Int
        /// The next batch of the data order.
        public var position: BatchLoader.Position
        /// The best test accuracy so far.
        public var bestAccuracy: Double
        /// The test accuracy of the last evaluation, if any.
        public var lastAccuracy: Double?

        /// Creates a progress record.
        public init(step: Int, position: BatchLoader.Position, bestAccuracy: Double, lastAccuracy: Double?) {
            (self.step, self.position, self.bestAccuracy, self.lastAccuracy) = (step, position, bestAccuracy, lastAccuracy)
        }
    }

    /// The data a run trained on.
    public struct DataRecord: Equatable, Sendable {
        /// The class names, by label.
        public var classNames: [String]
        /// Where the data came from, for reports.
        public var source: String
        /// What to load to get it again (a path, or "synthetic"), if recorded.
        public var location: String?
        /// `ImageSet.fingerprint` of the training images, if recorded.
        public var fingerprint: UInt64?
        /// What kind of data it is (for the normalisation); CIFAR when not recorded.
        public var kind: ImageDataset.Kind
        /// The side every training image had (CIFAR's 32), or nil when sizes varied: how `predict`
        /// prepares an image as evaluation did.
        public var fixedSide: Int?

        /// Creates a data record.
        public init(
            classNames: [String], source: String, location: String? = nil, fingerprint: UInt64? = nil,
            kind: ImageDataset.Kind = .cifar10, fixedSide: Int? = LabeledImages.side
        ) {
            (self.classNames, self.source, self.location, self.fingerprint) = (classNames, source, location, fingerprint)
            (self.kind, self.fixedSide) = (kind, fixedSide)
        }
    }

    /// The model the weights belong to.
    public var model: ModelConfiguration
    /// The run's options; nil for weights saved outside a training run.
    public var options: TrainingOptions?
    /// Where the run stands; nil for weights saved outside a training run.
    public var progress: Progress?
    /// The data; nil when not recorded.
    public var data: DataRecord?

    /// Creates a record.
    public init(model: ModelConfiguration, options: TrainingOptions? = nil, progress: Progress? = nil, data: DataRecord? = nil) {
        (self.model, self.options, self.progress, self.data) = (model, options, progress, data)
    }

    /// Whether the checkpoint holds weights saved outside a training run (imported, or saved through
    /// the C API or Python): no options and no progress to continue.
    public var holdsWeightsOnly: Bool { options == nil && progress == nil }

    /// The record as checkpoint metadata.
    public var metadata: [String: String] {
        var m = options?.metadata ?? model.metadata
        if let progress {
            m["run.step"] = "\(progress.step)"
            m["run.position"] = progress.position.description
            m["run.best_accuracy"] = "\(progress.bestAccuracy)"
            if let last = progress.lastAccuracy { m["run.test_accuracy"] = "\(last)" }
        }
        if let data {
            m["data.classes"] = String(decoding: (try? JSONEncoder().encode(data.classNames)) ?? Data("[]".utf8), as: UTF8.self)
            m["data.source"] = data.source
            if let location = data.location { m["data.path"] = location }
            if let fingerprint = data.fingerprint { m["data.fingerprint"] = String(fingerprint, radix: 16) }
            m["data.kind"] = data.kind.rawValue
            m["data.image_side"] = "\(data.fixedSide ?? 0)"
        }
        return m
    }

    static let progressKeys: Set<String> = ["run.step", "run.position", "run.best_accuracy", "run.test_accuracy"]

    /// Reads a record from checkpoint metadata, checking every key present.
    ///
    /// Options and progress are read when any of their keys is present (then all must be valid);
    /// a checkpoint with none of them holds weights saved outside a training run.
    ///
    /// - Throws: `EngineError.corruptData` naming the missing, malformed or inconsistent key.
    public init(metadata m: [String: String]) throws {
        func corrupt(_ key: String) -> EngineError {
            .corruptData("checkpoint metadata \(key) = \"\(m[key] ?? "")\" is malformed")
        }
        func value<T>(_ key: String, _ parse: (String) -> T?) throws -> T {
            guard let text = m[key] else { throw EngineError.corruptData("checkpoint metadata lacks \(key)") }
            guard let v = parse(text) else { throw corrupt(key) }
            return v
        }
        func fraction(_ key: String) throws -> Double {
            try value(key) { Double($0).flatMap { $0.isFinite && $0 >= 0 && $0 <= 1 ? $0 : nil } }
        }
        model = try ModelConfiguration(metadata: m)
        options = m.keys.contains(where: TrainingOptions.metadataKeys.contains) ? try TrainingOptions(metadata: m) : nil
        if m.keys.contains(where: Self.progressKeys.contains) {
            progress = Progress(
                step: try value("run.step") { Int($0).flatMap { $0 >= 0 ? $0 : nil } },
                position: try value("run.position", BatchLoader.Position.init),
                bestAccuracy: try fraction("run.best_accuracy"),
                lastAccuracy: m["run.test_accuracy"] == nil ? nil : try fraction("run.test_accuracy"))
        } else {
            progress = nil
        }
        if let classes = m["data.classes"] {
            guard let names = try? JSONDecoder().decode([String].self, from: Data(classes.utf8)) else {
                throw corrupt("data.classes")
            }
            guard names.count == model.classCount else {
                throw EngineError.corruptData(
                    "checkpoint metadata data.classes names \(names.count) classes, but model.classes is \(model.classCount)")
            }
            // Checkpoints written before data.kind and data.image_side held CIFAR.
            let cifar: ImageDataset.Kind = model.classCount == 100 ? .cifar100 : .cifar10
            data = DataRecord(
                classNames: names, source: m["data.source"] ?? "unknown", location: m["data.path"],
                fingerprint: m["data.fingerprint"] == nil ? nil : try value("data.fingerprint") { UInt64($0, radix: 16) },
                kind: m["data.kind"] == nil ? cifar : try value("data.kind", ImageDataset.Kind.init),
                fixedSide: m["data.image_side"] == nil
                    ? LabeledImages.side
                    : try value("data.image_side") { Int($0).flatMap { (0...16384).contains($0) ? $0 : nil } }.flatMap {
                        $0 == 0 ? nil : $0
                    })
        } else {
            data = nil
        }
    }
}
