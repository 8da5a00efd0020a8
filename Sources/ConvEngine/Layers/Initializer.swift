/// How weights are drawn. Vectors (biases, BN β) start at zero and BN γ at one whatever is chosen.
public enum WeightInitializer: Equatable, Sendable {
    /// Normal(0, √(2 / fan_in)): He et al., for ReLU networks.
    case heNormal
    /// Uniform(±√(6 / fan_in)): He et al., uniform form.
    case heUniform
    /// Uniform(±√(6 / (fan_in + fan_out))): Glorot & Bengio, TensorFlow 1.x's default.
    case glorotUniform
    /// A (semi-)orthogonal matrix scaled by `gain`, from the QR factorisation of a Gaussian matrix
    /// (LAPACK), as `torch.nn.init.orthogonal_`.
    case orthogonal(gain: Float)

    /// Fills `parameter` (a weight with fans) from `generator`.
    ///
    /// - Throws: `EngineError.invalidArgument` for a parameter without fans, or a LAPACK failure.
    public func fill(_ parameter: Parameter, generator: inout RandomGenerator) throws {
        guard let fanIn = parameter.fanIn, let fanOut = parameter.fanOut else {
            throw EngineError.invalidArgument("parameter \(parameter.name) has no fans to initialise from")
        }
        let v = parameter.value.data, count = parameter.count
        switch self {
        case .heNormal:
            let std = (2 / Float(fanIn)).squareRoot()
            for i in 0..<count { v[i] = generator.nextNormal() * std }
        case .heUniform:
            fillUniform(v, count: count, bound: (6 / Float(fanIn)).squareRoot(), &generator)
        case .glorotUniform:
            fillUniform(v, count: count, bound: (6 / Float(fanIn + fanOut)).squareRoot(), &generator)
        case .orthogonal(let gain):
            // The matrix whose rows are made orthonormal: one row per output unit.
            let isDepthwise = parameter.layout == .depthwiseHWC
            let rows = isDepthwise ? parameter.shape.channels : parameter.shape[0]
            let cols = count / rows
            var m = (0..<count).map { _ in generator.nextNormal() }
            try m.withUnsafeMutableBufferPointer { try LAPACK.orthonormalize($0.baseAddress!, rows: rows, cols: cols) }
            for r in 0..<rows {
                for c in 0..<cols {
                    // A depthwise filter is stored [k·k, C]: element (channel r, tap c) sits at c·C + r.
                    v[isDepthwise ? c * rows + r : r * cols + c] = m[r * cols + c] * gain
                }
            }
        }
    }

    private func fillUniform(_ v: UnsafeMutablePointer<Float>, count: Int, bound: Float, _ g: inout RandomGenerator) {
        for i in 0..<count { v[i] = (2 * g.nextUniform() - 1) * bound }
    }
}
