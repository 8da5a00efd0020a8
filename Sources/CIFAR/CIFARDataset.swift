import ConvEngine
import Foundation

/// Which CIFAR data set.
public enum CIFARVariant: String, CaseIterable, Sendable {
    /// 10 classes, 50,000 training and 10,000 test images.
    case cifar10
    /// 100 fine classes in 20 coarse ones, 50,000 training and 10,000 test images.
    case cifar100

    /// Classes of the labels a reader returns by default (fine labels for CIFAR-100).
    public var classCount: Int { self == .cifar10 ? 10 : 100 }
}

/// The on-disk form a data set was read from.
public enum CIFARFormat: String, Sendable {
    /// Binary records (`cifar-10-batches-bin`, `cifar-100-binary`).
    case binary
    /// Python pickles (`cifar-10-batches-py`, `cifar-100-python`).
    case python
}

/// A CIFAR data set in memory: training and test images with class names.
public struct CIFARDataset: Sendable {
    /// CIFAR-10 or CIFAR-100.
    public var variant: CIFARVariant
    /// The training images.
    public var train: LabeledImages
    /// The test images.
    public var test: LabeledImages
    /// The class names, indexed by label (fine names for CIFAR-100).
    public var classNames: [String]
    /// CIFAR-100's coarse class names; empty for CIFAR-10.
    public var coarseClassNames: [String]
    /// Where the data came from, for reports.
    public var source: String

    /// Creates a data set from parts.
    public init(
        variant: CIFARVariant, train: LabeledImages, test: LabeledImages, classNames: [String],
        coarseClassNames: [String] = [], source: String
    ) {
        self.variant = variant
        self.train = train
        self.test = test
        self.classNames = classNames
        self.coarseClassNames = coarseClassNames
        self.source = source
    }

    /// Loads CIFAR-10 or CIFAR-100 from whatever `url` points at, detecting the form: a
    /// `cifar-10-batches-bin`, `cifar-10-batches-py`, `cifar-100-binary` or `cifar-100-python` folder, a
    /// folder that contains one, an official `.tar.gz` archive, or a folder that contains one.
    /// Archives are read in memory, never unpacked to disk. Every file is validated before use.
    ///
    /// - Parameter useCoarseLabels: for CIFAR-100, use the 20 coarse labels instead of the 100 fine ones.
    /// - Throws: `EngineError.io` naming every place it looked when nothing is found, and
    ///   `EngineError.corruptData` naming the file and the problem for malformed data.
    public static func load(from url: URL, useCoarseLabels: Bool = false) throws -> CIFARDataset {
        let location = try CIFARLocation.find(at: url)
        var dataset = try location.read()
        if useCoarseLabels {
            guard dataset.variant == .cifar100 else { throw EngineError.invalidArgument("coarse labels exist only in CIFAR-100") }
            dataset.train.labels = dataset.train.coarseLabels
            dataset.test.labels = dataset.test.coarseLabels
            dataset.classNames = dataset.coarseClassNames
        }
        return dataset
    }
}
