import ConvEngine
import Foundation

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
/// rebuild the network a checkpoint came from. Its JSON form (the `configuration` of every `--json`
/// output) is `{"family", "width_multiplier", "resolution", "classes", "stem", "standard",
/// "output_stride"}` (`output_stride` is optional on input: the stem's when absent).
public struct ModelConfiguration: Equatable, Sendable, Codable {
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
    /// MobileNet's output stride, DeepLab's term: the input side over the side of the last maps. The
    /// stem's own is 16 (CIFAR: 32 → 2) or 32 (ImageNet: 224 → 7); each halving runs the last block
    /// still at stride 2 at stride 1 instead (no dilation), so the blocks after it see maps twice as
    /// large. Nil for SeedNet, whose pooling is fixed.
    public private(set) var outputStride: Int?
    /// The shape of one input image, NHWC without the batch: `[resolution, resolution, 3]`.
    public let itemShape: Shape

    /// Creates a configuration.
    ///
    /// - Parameter outputStride: MobileNet's output stride, a power of two from the stem's stride (1
    ///   or 2) to the stem's natural one (16 or 32); nil for the natural one.
    /// - Throws: `EngineError.invalidArgument` for a non-positive α (or any α but 1 for SeedNet), fewer than 2 classes, a
    ///   resolution the network cannot reduce (the seed needs 8 or more, MobileNet 32 or more with the
    ///   ImageNet stem and 16 or more with the CIFAR stem), an output stride out of range (or any
    ///   for SeedNet), or a model too large to count (its plan, made here from shapes alone, overflows).
    public init(
        family: ModelFamily, widthMultiplier: Float = 1, resolution: Int? = nil, classCount: Int = 10,
        stem: Stem = .cifar, standard: Bool = false, outputStride: Int? = nil
    ) throws {
        try require(widthMultiplier > 0 && widthMultiplier.isFinite, "width multiplier must be positive, got \(widthMultiplier)")
        try require(
            family == .mobilenet || widthMultiplier == 1,
            "SeedNet has no width multiplier (got \(widthMultiplier)); it applies to MobileNet")
        try require(classCount >= 2, "a classifier needs at least 2 classes, got \(classCount)")
        let side = resolution ?? (family == .mobilenet && stem == .imagenet ? 224 : 32)
        let minimum = family == .seed ? 8 : (stem == .imagenet ? 32 : 16)
        try require(side >= minimum, "\(family.rawValue) needs a resolution of at least \(minimum), got \(side)")
        let natural = MobileNetV1.naturalOutputStride(stem: stem)
        if let outputStride {
            try require(family == .mobilenet, "SeedNet has no output stride (got \(outputStride)); it applies to MobileNet")
            let least = MobileNetV1.stemStride(stem)
            try require(
                outputStride >= least && outputStride <= natural && outputStride.nonzeroBitCount == 1,
                "output stride must be a power of two from \(least) to \(natural) with the \(stem.rawValue) stem, got \(outputStride)"
            )
        }
        self.family = family
        self.widthMultiplier = widthMultiplier
        self.resolution = side
        self.classCount = classCount
        self.stem = stem
        self.standard = standard
        self.outputStride = family == .seed ? nil : outputStride ?? natural
        itemShape = try Shape([side, side, 3])
        _ = try plan()
    }

    private enum CodingKeys: String, CodingKey {
        case family
        case widthMultiplier = "width_multiplier"
        case resolution
        case classCount = "classes"
        case stem, standard
        case outputStride = "output_stride"
    }

    /// Encodes the seven fields that define the model.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(family, forKey: .family)
        try c.encode(widthMultiplier, forKey: .widthMultiplier)
        try c.encode(resolution, forKey: .resolution)
        try c.encode(classCount, forKey: .classCount)
        try c.encode(stem, forKey: .stem)
        try c.encode(standard, forKey: .standard)
        try c.encodeIfPresent(outputStride, forKey: .outputStride)
    }

    /// Decodes and validates a configuration.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            family: c.decode(ModelFamily.self, forKey: .family), widthMultiplier: c.decode(Float.self, forKey: .widthMultiplier),
            resolution: c.decode(Int.self, forKey: .resolution), classCount: c.decode(Int.self, forKey: .classCount),
            stem: c.decode(Stem.self, forKey: .stem), standard: c.decode(Bool.self, forKey: .standard),
            outputStride: c.decodeIfPresent(Int.self, forKey: .outputStride))
    }

    /// The configuration of this model's standard-convolution baseline.
    public var baseline: ModelConfiguration {
        var c = self
        c.standard = true
        return c
    }

    /// A readable name ("MobileNet 0.5 cifar-32", "MobileNet 0.75 cifar-32 output-stride-8", "SeedNet
    /// baseline").
    public var displayName: String {
        let base: String
        switch family {
        case .seed: base = "SeedNet"
        case .mobilenet:
            base =
                "MobileNet \(widthMultiplier.clean) \(stem.rawValue)-\(resolution)"
                + (outputStride == MobileNetV1.naturalOutputStride(stem: stem) ? "" : " output-stride-\(outputStride ?? 0)")
        }
        return standard ? base + " (standard conv)" : base
    }

    /// The configuration of the depthwise-separable model itself.
    public var separable: ModelConfiguration {
        var c = self
        c.standard = false
        return c
    }

    /// The model's rows, in the order of the equivalent PyTorch `nn.Sequential`.
    public func specs() throws -> [LayerSpec] {
        switch family {
        case .seed: return try SeedNet.specs(self)
        case .mobilenet: return try MobileNetV1.specs(self)
        }
    }

    /// A planned layer: its checkpoint name, its row, and what it costs and yields for one image.
    public struct PlannedLayer: Equatable, Sendable {
        /// The `nn.Sequential` index that prefixes its parameter names.
        public var name: String
        /// The row.
        public var spec: LayerSpec
        /// Its shapes and costs for one image.
        public var plan: LayerSpec.Plan
    }

    /// The model planned from shapes alone, without allocating a layer.
    ///
    /// - Throws: `EngineError` when a layer's shape or a count is impossible (too large for an `Int`).
    public func plan() throws -> [PlannedLayer] {
        var input = itemShape.dimensions
        return try specs().enumerated().map { i, spec in
            let plan: LayerSpec.Plan
            do { plan = try spec.plan(input: input) } catch let error as EngineError {
                throw EngineError.invalidArgument("\(displayName), layer \(i) (\(spec.kind)): \(error)")
            }
            input = plan.output
            return PlannedLayer(name: String(i), spec: spec, plan: plan)
        }
    }

    /// The layers, named by their `nn.Sequential` index in the equivalent PyTorch module.
    ///
    /// - Parameter algorithm: how the convolutions run (`auto`: chosen per shape).
    public func layers(algorithm: ConvolutionAlgorithm = .auto) throws -> [Sequential.Entry] {
        try plan().map { Sequential.Entry($0.name, try $0.spec.makeLayer(algorithm: algorithm)) }
    }

    /// Bytes that training this model at `batchSize` holds, estimated from the plan: parameters with
    /// their gradients and two optimizer slots, every activation that does not run in place, the two
    /// gradient buffers, and the convolutions' workspace cap.
    ///
    /// - Throws: `EngineError.invalidArgument` when the estimate does not fit in an `Int`.
    public func trainingMemory(batchSize: Int) throws -> Int {
        let tooLarge = EngineError.invalidArgument("\(displayName) at batch \(batchSize) needs more memory than can be counted")
        let layers = try plan()
        var parameterFloats = 0, itemFloats = itemShape.count, largest = itemShape.count
        for layer in layers {
            parameterFloats = try Checked.sum(parameterFloats, layer.plan.storedFloats, orThrow: tooLarge)
            let floats = try Checked.product(layer.plan.output, orThrow: tooLarge)
            if !layer.spec.runsInPlace { itemFloats = try Checked.sum(itemFloats, floats, orThrow: tooLarge) }
            largest = max(largest, floats)
        }
        let activations = try Checked.product(
            batchSize, Checked.sum(itemFloats, 2 * largest, orThrow: tooLarge), orThrow: tooLarge)
        let total = try Checked.sum(Checked.product(4, parameterFloats, orThrow: tooLarge), activations, orThrow: tooLarge)
        return try Checked.product(4, Checked.sum(total, Conv2D.defaultMaxColumnFloats, orThrow: tooLarge), orThrow: tooLarge)
    }

    /// Throws unless training at `batchSize` fits in `available` bytes (by default the machine's
    /// physical memory), with the estimate in the message.
    public func checkMemory(batchSize: Int, available: UInt64 = Memory.physicalBytes) throws {
        let needed = try trainingMemory(batchSize: batchSize)
        guard UInt64(needed) <= available else {
            throw EngineError.invalidArgument(
                "\(displayName) at batch \(batchSize) needs about \(Memory.describe(needed)) of memory, more than the \(Memory.describe(Int(clamping: available))) this machine has"
            )
        }
    }

    /// The weight initialisation the family was published with (TF 1.x's Glorot for the seed,
    /// He for MobileNet with batch norm).
    public var defaultInitializer: WeightInitializer { family == .seed ? .glorotUniform : .heNormal }

    /// Builds the network for batches of up to `maxBatchSize` and initialises its weights (the same
    /// weights whatever `convolutionAlgorithm` runs the convolutions).
    ///
    /// - Throws: `EngineError.invalidArgument` before allocating anything when the network would not
    ///   fit in the machine's memory (`checkMemory`), or for a non-positive batch size.
    public func makeNetwork(
        maxBatchSize: Int, seed: UInt64 = 0, initializer: WeightInitializer? = nil,
        convolutionAlgorithm: ConvolutionAlgorithm = .auto
    ) throws -> Sequential {
        try require(maxBatchSize > 0, "batch size must be positive, got \(maxBatchSize)")
        try checkMemory(batchSize: maxBatchSize)
        let network = try Sequential(
            layers(algorithm: convolutionAlgorithm), itemShape: itemShape, maxBatchSize: maxBatchSize, seed: seed)
        var generator = RandomGenerator(seed: seed)
        let initializer = initializer ?? defaultInitializer
        for (_, p) in network.namedParameters where p.isWeight { try initializer.fill(p, generator: &generator) }
        return network
    }

    /// The configuration as string pairs, for checkpoint metadata.
    public var metadata: [String: String] {
        var pairs = [
            "model.family": family.rawValue, "model.width_multiplier": "\(widthMultiplier)",
            "model.resolution": "\(resolution)", "model.classes": "\(classCount)",
            "model.stem": stem.rawValue, "model.standard": "\(standard)",
        ]
        pairs["model.output_stride"] = outputStride.map { "\($0)" }
        return pairs
    }

    /// Reads a configuration back from checkpoint metadata (without `model.output_stride`, as
    /// checkpoints written before it had none: the stem's natural output stride).
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
            let standard = Bool(try value("model.standard"))
        else {
            throw EngineError.corruptData(
                "checkpoint metadata has a malformed model.* entry: \(metadata.filter { $0.key.hasPrefix("model.") })")
        }
        let outputStrideText = metadata["model.output_stride"]
        let outputStride = outputStrideText.flatMap { Int($0) }
        if let outputStrideText, outputStride == nil {
            throw EngineError.corruptData("checkpoint metadata has a malformed model.output_stride: \(outputStrideText)")
        }
        do {
            try self.init(
                family: family, widthMultiplier: alpha, resolution: resolution, classCount: classes,
                stem: stem, standard: standard, outputStride: outputStride)
        } catch let error as EngineError {
            let keys = [
                "model.family", "model.width_multiplier", "model.resolution", "model.classes", "model.stem", "model.standard",
                "model.output_stride",
            ]
            throw EngineError.corruptData(
                "checkpoint metadata \(keys.map { "\($0)=\(metadata[$0] ?? "")" }.joined(separator: ", ")) "
                    + "describes no model that can be built: \(error)")
        }
    }
}

extension Float {
    /// "1" for 1.0, "0.5" for 0.5.
    var clean: String { self == rounded() ? String(Int(self)) : String(self) }
}

/// Collects a model's rows in order; their indices become the layers' `nn.Sequential` names.
struct SpecList {
    private(set) var specs: [LayerSpec] = []

    mutating func append(_ spec: LayerSpec) { specs.append(spec) }

    /// A convolution with batch norm (when `batchNorm`) and ReLU after it.
    mutating func appendActivated(_ spec: LayerSpec, channels: Int, batchNorm: Bool) {
        append(spec)
        if batchNorm { append(.batchNorm(channels: channels)) }
        append(.relu)
    }
}
