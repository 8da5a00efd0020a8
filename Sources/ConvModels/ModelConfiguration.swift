import ConvEngine

/// Which network to build.
public enum ModelFamily: String, CaseIterable, Sendable, Codable {
    /// The seed document's small TensorFlow network for CIFAR-10.
    case seed
    /// MobileNet v1 (Howard et al. 2017).
    case mobilenet
}

/// Where MobileNet's first convolution starts.
public enum Stem: String, CaseIterable, Sendable, Codable {
    /// The paper's: input 224·ρ, first convolution stride 2.
    case imagenet
    /// The usual CIFAR adaptation: 32×32 input, first convolution stride 1.
    case cifar
}

/// Everything needed to rebuild a model; saved in checkpoints so that `eval` and `predict` can
/// rebuild the network a checkpoint came from.
public struct ModelConfiguration: Equatable, Sendable {
    /// The network family.
    public private(set) var family: ModelFamily
    /// MobileNet's width multiplier α (channel counts int(c·α), at least 8).
    public private(set) var widthMultiplier: Float
    /// The input side in pixels (MobileNet with the ImageNet stem: 224, 192, 160, 128 …).
    public private(set) var resolution: Int
    /// The number of classes.
    public private(set) var classCount: Int
    /// MobileNet's stem.
    public private(set) var stem: Stem
    /// Whether to build the standard-convolution baseline instead of the separable network.
    public private(set) var standard: Bool
    /// The shape of one input image, NHWC without the batch: `[resolution, resolution, 3]`.
    public let itemShape: Shape

    /// Creates a configuration.
    ///
    /// - Throws: `EngineError.invalidArgument` for a non-positive α, fewer than 2 classes, or a
    ///   resolution the network cannot reduce (the seed needs 8 or more, MobileNet 32 or more with the
    ///   ImageNet stem and 16 or more with the CIFAR stem).
    public init(family: ModelFamily, widthMultiplier: Float = 1, resolution: Int? = nil, classCount: Int = 10,
                stem: Stem = .cifar, standard: Bool = false) throws {
        try require(widthMultiplier > 0 && widthMultiplier.isFinite, "width multiplier must be positive, got \(widthMultiplier)")
        try require(classCount >= 2, "a classifier needs at least 2 classes, got \(classCount)")
        let side = resolution ?? (family == .mobilenet && stem == .imagenet ? 224 : 32)
        let minimum = family == .seed ? 8 : (stem == .imagenet ? 32 : 16)
        try require(side >= minimum, "\(family.rawValue) needs a resolution of at least \(minimum), got \(side)")
        self.family = family
        self.widthMultiplier = widthMultiplier
        self.resolution = side
        self.classCount = classCount
        self.stem = stem
        self.standard = standard
        itemShape = try Shape([side, side, 3])
    }

    /// The configuration of this model's standard-convolution baseline.
    public var baseline: ModelConfiguration {
        var c = self
        c.standard = true
        return c
    }

    /// A readable name ("MobileNet 0.5 cifar-32", "SeedNet baseline").
    public var displayName: String {
        let base: String
        switch family {
        case .seed: base = "SeedNet"
        case .mobilenet: base = "MobileNet \(widthMultiplier.clean) \(stem.rawValue)-\(resolution)"
        }
        return standard ? base + " (standard conv)" : base
    }

    /// The configuration of the depthwise-separable model itself.
    public var separable: ModelConfiguration {
        var c = self
        c.standard = false
        return c
    }

    /// The layers, named by their `nn.Sequential` index in the equivalent PyTorch module.
    public func layers() throws -> [Sequential.Entry] {
        switch family {
        case .seed: return try SeedNet.layers(self)
        case .mobilenet: return try MobileNetV1.layers(self)
        }
    }

    /// The weight initialisation the family was published with (TF 1.x's Glorot for the seed,
    /// He for MobileNet with batch norm).
    public var defaultInitializer: WeightInitializer { family == .seed ? .glorotUniform : .heNormal }

    /// Builds the network for batches of up to `maxBatchSize` and initialises its weights.
    public func makeNetwork(maxBatchSize: Int, seed: UInt64 = 0, initializer: WeightInitializer? = nil) throws -> Sequential {
        let network = try Sequential(layers(), itemShape: itemShape, maxBatchSize: maxBatchSize, seed: seed)
        var generator = RandomGenerator(seed: seed)
        let initializer = initializer ?? defaultInitializer
        for (_, p) in network.namedParameters where p.isWeight { try initializer.fill(p, generator: &generator) }
        return network
    }

    /// The configuration as string pairs, for checkpoint metadata.
    public var metadata: [String: String] {
        ["model.family": family.rawValue, "model.width_multiplier": "\(widthMultiplier)",
         "model.resolution": "\(resolution)", "model.classes": "\(classCount)",
         "model.stem": stem.rawValue, "model.standard": "\(standard)"]
    }

    /// Reads a configuration back from checkpoint metadata.
    ///
    /// - Throws: `EngineError.corruptData` naming the missing or malformed key.
    public init(metadata: [String: String]) throws {
        func value(_ key: String) throws -> String {
            guard let v = metadata[key] else { throw EngineError.corruptData("checkpoint metadata lacks \(key)") }
            return v
        }
        guard let family = ModelFamily(rawValue: try value("model.family")),
              let alpha = Float(try value("model.width_multiplier")),
              let resolution = Int(try value("model.resolution")),
              let classes = Int(try value("model.classes")),
              let stem = Stem(rawValue: try value("model.stem")),
              let standard = Bool(try value("model.standard")) else {
            throw EngineError.corruptData("checkpoint metadata has a malformed model.* entry: \(metadata.filter { $0.key.hasPrefix("model.") })")
        }
        try self.init(family: family, widthMultiplier: alpha, resolution: resolution, classCount: classes,
                      stem: stem, standard: standard)
    }
}

extension Float {
    /// "1" for 1.0, "0.5" for 0.5.
    var clean: String { self == rounded() ? String(Int(self)) : String(self) }
}

/// Appends layers under consecutive `nn.Sequential` indices, so names match the PyTorch module built
/// from the same list.
struct LayerList {
    private(set) var entries: [Sequential.Entry] = []

    mutating func append(_ layer: Layer) { entries.append(.init(String(entries.count), layer)) }

    /// A convolution with batch norm (when `batchNorm`) and ReLU after it.
    mutating func appendActivated(_ layer: Layer, channels: Int, batchNorm: Bool) throws {
        append(layer)
        if batchNorm { append(try BatchNorm(channels: channels)) }
        append(ReLU())
    }
}
