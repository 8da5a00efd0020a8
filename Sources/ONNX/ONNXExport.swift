import CIFAR
import ConvEngine
import ConvModels
import Foundation
import SwiftProtobuf

/// A trained network as an ONNX model (opset 17) that ONNX Runtime, TensorRT, OpenVINO and the
/// other serving stacks run.
///
/// The graph is the equivalent PyTorch `nn.Sequential`'s, in its layout: input `input`
/// `[N, 3, H, W]` float32 with a symbolic batch `N` (or `[N, H, W, 3]`, transposed first, with
/// `.nhwc`), output `logits` `[N, classes]`. Convolutions are `Conv` (depthwise with `group` = C,
/// pointwise 1×1), batch norm is folded into the convolution before it or kept as
/// `BatchNormalization` in inference mode, SeedNet's flatten is `Flatten` over NCHW (the order its
/// PyTorch weights expect), the classifier is `Gemm`. Initializers carry the checkpoint's PyTorch
/// names ("3.weight"); a folded convolution keeps its name and gains a bias.
///
/// `metadata_props` record what a deployment needs: the model, the input normalisation (and whether
/// the graph includes it), the class names, the cost against the standard baseline.
public struct ONNXExport {
    /// The operator set the graph uses.
    public static let opset = 17
    /// The graph's input name.
    public static let inputName = "input"
    /// The graph's output name.
    public static let outputName = "logits"

    /// The layout of the graph's input.
    public enum InputLayout: String, Sendable, CaseIterable {
        /// `[N, 3, H, W]`, as PyTorch users feed images.
        case nchw
        /// `[N, H, W, 3]`, as TensorFlow users and this engine do.
        case nhwc
    }

    /// How to write the graph.
    public struct Options: Sendable {
        /// Fold each batch norm into the convolution before it (fewer nodes, the same logits to
        /// float32 rounding); otherwise keep `BatchNormalization` nodes.
        public var foldBatchNorm = true
        /// The input's layout.
        public var inputLayout = InputLayout.nchw
        /// Start the graph with the input normalisation (`Mul`, `Add` per channel), so that it takes
        /// raw 0–255 pixel values.
        public var includeNormalization = false

        /// The defaults: batch norm folded, NCHW input, normalisation left to the caller.
        public init() {}
    }

    let configuration: ModelConfiguration
    let normalization: Normalization
    let classNames: [String]
    let options: Options
    let producerVersion: String
    private var operators: [Operator]

    /// Prepares the export of `network`, a network of `configuration` holding the weights to export.
    ///
    /// - Parameters:
    ///   - network: the network (its parameters and batch norm statistics are read, nothing else).
    ///   - configuration: the model it is.
    ///   - normalization: the pixel normalisation it was trained with, recorded in the metadata (and
    ///     put in the graph with `options.includeNormalization`).
    ///   - classNames: the names of its classes, in label order.
    ///   - options: how to write the graph.
    ///   - producerVersion: the library's version, for the model's `producer_version`.
    /// - Throws: `EngineError.invalidArgument` when the class names do not match the model, or a
    ///   layer cannot be expressed in ONNX.
    public init(
        network: Sequential, configuration: ModelConfiguration, normalization: Normalization, classNames: [String],
        options: Options = Options(), producerVersion: String
    ) throws {
        try require(
            classNames.count == configuration.classCount,
            "\(classNames.count) class names for a model of \(configuration.classCount) classes")
        self.configuration = configuration
        self.normalization = normalization
        self.classNames = classNames
        self.options = options
        self.producerVersion = producerVersion
        let tensors = try Checkpoint.make(network: network, optimizer: nil)
        let epsilons = Dictionary(
            network.entries.compactMap { e in (e.layer as? BatchNorm).map { (e.name, $0.epsilon) } },
            uniquingKeysWith: { a, _ in a })
        operators = try configuration.plan().map { layer in
            try Operator(layer, tensors: tensors, epsilon: epsilons[layer.name] ?? 1e-5)
        }
        if options.foldBatchNorm { operators = Operator.foldingBatchNorms(operators) }
    }

    /// The model as protobuf bytes (an `.onnx` file's contents).
    public func serializedData() throws -> Data {
        do { return try model().serializedData() } catch {
            throw EngineError.invalidArgument("the ONNX model could not be encoded: \(error)")
        }
    }

    /// Writes the model to `url` atomically: a failed export leaves no partial file.
    public func write(to url: URL) throws {
        try AtomicFile.write(try serializedData(), to: url)
    }

    /// The metadata_props entries.
    public var metadata: [String: String] {
        get throws {
            let cost = try configuration.costComparison()
            let (scale, shift) = normalization.scaleAndShift
            var normalizationEntry: [String: Any] = [
                "scale": scale, "shift": shift, "included_in_graph": options.includeNormalization,
            ]
            switch normalization {
            case .seed: normalizationEntry["kind"] = "seed"
            case .meanStd(let mean, let std):
                normalizationEntry["kind"] = "meanstd"
                normalizationEntry["mean"] = mean
                normalizationEntry["std"] = std
            }
            let own = configuration.standard ? cost.baseline : cost.model
            return [
                "mobilenetcpu.model": try json(configuration),
                "normalization": try json(normalizationEntry),
                "input_layout": options.inputLayout.rawValue.uppercased(),
                "batchnorm": options.foldBatchNorm ? "folded" : "kept",
                "class_names": try json(classNames),
                "macs": String(own.multiplyAccumulates),
                "params": String(own.parameters),
                "baseline_macs": String(cost.baseline.multiplyAccumulates),
                "baseline_params": String(cost.baseline.parameters),
            ]
        }
    }

    private func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private func json(_ value: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
    }

    func model() throws -> Onnx_ModelProto {
        var graph = ONNXGraph(name: configuration.displayName)
        let side = configuration.resolution
        let nchw = [nil, 3, side, side], nhwc = [nil, side, side, 3]
        graph.input(ONNXGraph.value(Self.inputName, dimensions: options.inputLayout == .nchw ? nchw : nhwc))
        var x = Self.inputName
        if options.inputLayout == .nhwc {
            x = graph.node("Transpose", [x], attributes: [Attribute.ints("perm", [0, 3, 1, 2])], name: "to_nchw")
        }
        if options.includeNormalization {
            let (scale, shift) = normalization.scaleAndShift
            let s = graph.initializer("normalization.scale", shape: [1, 3, 1, 1], scale)
            let t = graph.initializer("normalization.shift", shape: [1, 3, 1, 1], shift)
            x = graph.node("Mul", [x, s], name: "normalize_scale")
            x = graph.node("Add", [x, t], name: "normalize_shift")
        }
        for (i, op) in operators.enumerated() {
            x = op.emit(into: &graph, input: x, output: i == operators.count - 1 ? Self.outputName : nil)
        }
        graph.output(ONNXGraph.value(Self.outputName, dimensions: [nil, configuration.classCount]))

        var model = Onnx_ModelProto()
        model.irVersion = 8
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Int64(Self.opset)
        model.opsetImport = [opset]
        model.producerName = "mobilenetcpu"
        model.producerVersion = producerVersion
        model.docString = "\(configuration.displayName), exported by MobileNetCPU"
        model.graph = graph.proto
        model.metadataProps = try metadata.sorted { $0.key < $1.key }.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        return model
    }
}
