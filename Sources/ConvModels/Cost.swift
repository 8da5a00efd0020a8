import ConvEngine

/// One layer's cost for a single image, as the MobileNet paper counts it: multiply-accumulates (MACs)
/// of convolutions and fully connected layers only; parameters of those layers (weights and biases),
/// not of batch norm.
public struct LayerCost: Equatable, Sendable {
    /// The layer's checkpoint name (its `nn.Sequential` index).
    public var name: String
    /// The layer kind ("conv", "dw", "pw", "fc", "bn", "relu", …).
    public var kind: String
    /// The output shape for one image (NHWC without the batch).
    public var outputShape: [Int]
    /// Counted parameters.
    public var parameters: Int
    /// Multiply-accumulates for one image (FLOPs = 2 × MACs).
    public var multiplyAccumulates: Int
}

/// A model's cost: per layer and in total, for one image.
public struct ModelCost: Equatable, Sendable {
    /// The model's readable name.
    public var name: String
    /// Every layer, in order.
    public var layers: [LayerCost]
    /// Total MACs for one image.
    public var multiplyAccumulates: Int { layers.reduce(0) { $0 + $1.multiplyAccumulates } }
    /// Total counted parameters.
    public var parameters: Int { layers.reduce(0) { $0 + $1.parameters } }

    /// Counts the cost of a built network (its current batch size is divided out).
    public init(name: String, network: Sequential) {
        self.name = name
        let kindsWithCountedParameters: Set<String> = ["conv", "dw", "pw", "fc"]
        layers = network.entries.enumerated().map { i, entry in
            let layer = entry.layer
            return LayerCost(
                name: entry.name, kind: layer.kind,
                outputShape: Array(network.shapes[i + 1].dimensions.dropFirst()),
                parameters: kindsWithCountedParameters.contains(layer.kind)
                    ? layer.parameters.reduce(0) { $0 + $1.count } : 0,
                multiplyAccumulates: layer.multiplyAccumulates / network.batchSize)
        }
    }
}

/// One depthwise-separable block beside the standard convolution it replaces.
public struct SeparableBlockCost: Equatable, Sendable {
    /// The depthwise layer's name.
    public var depthwiseName: String
    /// The pointwise layer's name.
    public var pointwiseName: String
    /// Input channels M.
    public var inputChannels: Int
    /// Output channels N.
    public var outputChannels: Int
    /// Kernel side Dk.
    public var kernelSize: Int
    /// Output side D_F.
    public var outputSide: Int
    /// MACs of the depthwise and pointwise layers together: Dk²·M·D_F² + M·N·D_F².
    public var separableMACs: Int
    /// MACs of the standard convolution with the same channels and stride: Dk²·M·N·D_F².
    public var standardMACs: Int
    /// separableMACs / standardMACs.
    public var ratio: Double { Double(separableMACs) / Double(standardMACs) }
    /// The paper's prediction of that ratio: 1/N + 1/Dk².
    public var predictedRatio: Double { 1 / Double(outputChannels) + 1 / Double(kernelSize * kernelSize) }
}

/// A model beside its standard-convolution baseline.
public struct CostComparison: Equatable, Sendable {
    /// The separable model.
    public var model: ModelCost
    /// Its standard-convolution baseline.
    public var baseline: ModelCost
    /// Each separable block of the model.
    public var blocks: [SeparableBlockCost]
    /// model MACs / baseline MACs.
    public var macsRatio: Double { Double(model.multiplyAccumulates) / Double(baseline.multiplyAccumulates) }
    /// model parameters / baseline parameters.
    public var parameterRatio: Double { Double(model.parameters) / Double(baseline.parameters) }
}

extension ModelCost {
    /// Counts the cost of a planned model (nothing is allocated).
    public init(name: String, plan: [ModelConfiguration.PlannedLayer]) {
        self.name = name
        layers = plan.map {
            LayerCost(
                name: $0.name, kind: $0.spec.kind, outputShape: $0.plan.output, parameters: $0.plan.parameters,
                multiplyAccumulates: $0.plan.multiplyAccumulates)
        }
    }
}

extension ModelConfiguration {
    /// The cost of this model for one image, counted from its plan without building it.
    public func cost() throws -> ModelCost { ModelCost(name: displayName, plan: try plan()) }

    /// This model (as separable) beside its standard baseline, with a row per separable block;
    /// counted from the plans, without building either network.
    public func costComparison() throws -> CostComparison {
        let separable = self.separable
        let plan = try separable.plan()
        var blocks: [SeparableBlockCost] = []
        for (i, layer) in plan.enumerated() {
            guard case let .depthwise(channels, kernel, _, _, _) = layer.spec,
                let j = plan[(i + 1)...].firstIndex(where: { if case .pointwise = $0.spec { true } else { false } }),
                case let .pointwise(_, outputs, _) = plan[j].spec
            else { continue }
            let side = plan[j].plan.output[0]
            blocks.append(
                SeparableBlockCost(
                    depthwiseName: layer.name, pointwiseName: plan[j].name,
                    inputChannels: channels, outputChannels: outputs, kernelSize: kernel, outputSide: side,
                    separableMACs: layer.plan.multiplyAccumulates + plan[j].plan.multiplyAccumulates,
                    standardMACs: try Checked.product(
                        [kernel, kernel, channels, outputs, side, side],
                        orThrow: EngineError.invalidArgument("\(displayName)'s baseline is too large to count"))))
        }
        return CostComparison(
            model: ModelCost(name: separable.displayName, plan: plan),
            baseline: try baseline.cost(), blocks: blocks)
    }
}
