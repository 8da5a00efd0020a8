import ConvEngine
import Testing

@Suite struct InitializerTests {
    func statistics(_ p: Parameter) -> (mean: Double, variance: Double, maxAbs: Float) {
        let v = Array(p.value.buffer)
        let mean = v.reduce(0.0) { $0 + Double($1) } / Double(v.count)
        let variance = v.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(v.count)
        return (mean, variance, v.map { abs($0) }.max()!)
    }

    @Test func heAndGlorotHaveTheirVariances() throws {
        let conv = try Conv2D(inputChannels: 32, outputChannels: 64, kernelSize: 3)
        var g = RandomGenerator(seed: 1)
        let fanIn = 32 * 9.0, fanOut = 64 * 9.0
        try WeightInitializer.heNormal.fill(conv.weight, generator: &g)
        #expect(abs(statistics(conv.weight).variance / (2 / fanIn) - 1) < 0.05)
        try WeightInitializer.heUniform.fill(conv.weight, generator: &g)
        #expect(abs(statistics(conv.weight).variance / (2 / fanIn) - 1) < 0.05)
        #expect(Double(statistics(conv.weight).maxAbs) <= (6 / fanIn).squareRoot())
        try WeightInitializer.glorotUniform.fill(conv.weight, generator: &g)
        let bound = (6 / (fanIn + fanOut)).squareRoot()
        #expect(abs(statistics(conv.weight).variance / (bound * bound / 3) - 1) < 0.05)
        #expect(Double(statistics(conv.weight).maxAbs) <= bound)
    }

    /// Rows of the logical [rows × cols] matrix are orthonormal (rows ≤ cols) or its columns are.
    func checkOrthogonal(_ matrix: [[Float]], gain: Float) {
        let rows = matrix.count, cols = matrix[0].count
        let vectors = rows <= cols ? matrix : (0..<cols).map { c in matrix.map { $0[c] } }
        for a in vectors.indices {
            for b in vectors.indices {
                let dot = zip(vectors[a], vectors[b]).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                #expect(abs(dot - (a == b ? Double(gain * gain) : 0)) < 1e-4, "⟨v\(a), v\(b)⟩ = \(dot)")
            }
        }
    }

    @Test func orthogonalInitialisationGivesOrthonormalRowsThroughLAPACK() throws {
        var g = RandomGenerator(seed: 2)
        // Wide: 8 filters over 3·3·4 = 36 inputs; tall: 40 outputs over 12 inputs.
        let conv = try Conv2D(inputChannels: 4, outputChannels: 8, kernelSize: 3)
        try WeightInitializer.orthogonal(gain: 1).fill(conv.weight, generator: &g)
        checkOrthogonal((0..<8).map { o in (0..<36).map { conv.weight.value.data[o * 36 + $0] } }, gain: 1)
        let fc = try Linear(inputFeatures: 12, outputFeatures: 40)
        try WeightInitializer.orthogonal(gain: 2).fill(fc.weight, generator: &g)
        checkOrthogonal((0..<40).map { o in (0..<12).map { fc.weight.value.data[o * 12 + $0] } }, gain: 2)
        // Depthwise [3, 3, 5]: the 5 per-channel filters of 9 taps are orthonormal.
        let dw = try DepthwiseConv2D(channels: 5)
        try WeightInitializer.orthogonal(gain: 1).fill(dw.weight, generator: &g)
        checkOrthogonal((0..<5).map { c in (0..<9).map { dw.weight.value.data[$0 * 5 + c] } }, gain: 1)
    }

    @Test func theSameSeedGivesTheSameWeights() throws {
        let a = try Conv2D(inputChannels: 3, outputChannels: 4, kernelSize: 3),
            b = try Conv2D(inputChannels: 3, outputChannels: 4, kernelSize: 3)
        var g1 = RandomGenerator(seed: 7), g2 = RandomGenerator(seed: 7)
        try WeightInitializer.orthogonal(gain: 1).fill(a.weight, generator: &g1)
        try WeightInitializer.orthogonal(gain: 1).fill(b.weight, generator: &g2)
        #expect(a.weight.tensor == b.weight.tensor)
    }

    @Test func refusesParametersWithoutFans() throws {
        var g = RandomGenerator(seed: 3)
        let bn = try BatchNorm(channels: 4)
        #expect(throws: EngineError.self) { try WeightInitializer.heNormal.fill(bn.weight, generator: &g) }
    }
}
