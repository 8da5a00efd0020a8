import ConvEngine
import Testing

@Suite struct LinearTests {
    @Test(arguments: [(4, 13, 7, true), (1, 5, 3, false), (9, 33, 10, true)])
    func forwardMatchesNaiveLoopAndGradientsMatchFiniteDifferences(_ c: (n: Int, inputs: Int, outputs: Int, bias: Bool)) throws {
        let fc = try Linear(inputFeatures: c.inputs, outputFeatures: c.outputs, bias: c.bias)
        randomize(fc.weight, seed: 61)
        if let b = fc.bias { randomize(b, seed: 62) }
        let x = Tensor.random([c.n, c.inputs], seed: 63)
        let y = try fc.forward(x)
        let ref = referenceLinear(
            x, weight: Array(fc.weight.value.buffer), bias: fc.bias.map { Array($0.value.buffer) }, outputs: c.outputs)
        #expect(relativeError(y.scalars, ref) <= 1e-5)
        try checkGradients(of: fc, input: x)
    }

    @Test func rejectsBadArguments() throws {
        #expect(throws: EngineError.self) { try Linear(inputFeatures: 0, outputFeatures: 3) }
        #expect(throws: EngineError.self) { try Linear(inputFeatures: 10, outputFeatures: 3, flattenedFrom: (2, 2, 3)) }
        let fc = try Linear(inputFeatures: 10, outputFeatures: 3)
        #expect(throws: EngineError.self) { try fc.prepare(for: .nhwc(2, 1, 1, 10)) }
        #expect(throws: EngineError.self) { try fc.prepare(for: Shape([2, 11])) }
    }
}
