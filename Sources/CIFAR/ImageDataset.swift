import ConvEngine
import Foundation

/// A data set ready for training: training and test images with class names, from CIFAR (or the
/// synthetic set) or from an image folder.
public struct ImageDataset: Sendable {
    /// What kind of data it is, which decides the pixel statistics of mean/std normalisation.
    public enum Kind: String, Sendable, CaseIterable {
        case cifar10, cifar100
        /// A folder of images in torchvision's `ImageFolder` layout.
        case folder
    }

    /// What kind of data it is.
    public var kind: Kind
    /// The training images.
    public var train: ImageSet
    /// The test (or validation) images.
    public var test: ImageSet
    /// The class names, indexed by label.
    public var classNames: [String]
    /// Where the data came from, for reports.
    public var source: String
    /// How the pixels are held ("decoded once and kept in memory (184 MB)"), for the progress line.
    public var storageNote: String
    /// Files left out as unreadable (`--skip-bad-images`), with the reason.
    public var skipped: [String]

    /// Creates a data set from parts.
    public init(
        kind: Kind, train: ImageSet, test: ImageSet, classNames: [String], source: String,
        storageNote: String = "", skipped: [String] = []
    ) {
        (self.kind, self.train, self.test, self.classNames) = (kind, train, test, classNames)
        (self.source, self.storageNote, self.skipped) = (source, storageNote, skipped)
    }

    /// A CIFAR data set (or the synthetic set, which has CIFAR's layout).
    public init(_ cifar: CIFARDataset) {
        self.init(
            kind: cifar.variant == .cifar100 ? .cifar100 : .cifar10, train: ImageSet(records: cifar.train),
            test: ImageSet(records: cifar.test), classNames: cifar.classNames, source: cifar.source,
            storageNote: "CIFAR records in memory")
    }

}

extension ImageDataset.Kind {
    /// The normalisation by this kind of data's own mean and standard deviation: CIFAR-10's,
    /// CIFAR-100's, or ImageNet's for image folders (torchvision's convention).
    public var meanStd: Normalization {
        switch self {
        case .cifar10: return .cifar10
        case .cifar100: return .cifar100
        case .folder: return .imagenet
        }
    }
}
