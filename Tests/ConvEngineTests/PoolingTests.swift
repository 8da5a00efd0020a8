import ConvEngine
import Testing

@Suite struct MaxPool2DTests {
    @Test(arguments: [(2, 2, 0, [2, 8, 6, 5]), (3, 2, 1, [2, 7, 9, 3]), (3, 1, 1, [1, 5, 4, 6]), (2, 2, 0, [1, 5, 7, 4])])
    func forwardMatchesNaiveLoopAndGradientsMatchFiniteDifferences(_ c: (k: Int, s: Int, p: Int, dims: [Int])) throws {
        let pool = try MaxPool2D(kernelSize: c.k, stride: c.s, padding: c.p)
        let x = Tensor.randomDistinct(c.dims, seed: 51)
        let y = try pool.forward(x)
        let ref = referencePool(x, kernel: c.k, stride: c.s, padding: c.p, max: true)
        #expect(y.shape.dimensions == ref.shape)
        #expect(relativeError(y.scalars, ref.values) <= 1e-6)
        try checkGradients(of: pool, input: x, h: 1e-2)
    }

    @Test func rejectsBadArguments() throws {
        #expect(throws: EngineError.self) { try MaxPool2D(kernelSize: 0) }
        #expect(throws: EngineError.self) { try MaxPool2D(kernelSize: 2, stride: -2) }
        #expect(throws: EngineError.self) { try MaxPool2D(kernelSize: 3).prepare(for: .nhwc(1, 2, 2, 1)) }
    }
}

@Suite struct AvgPool2DTests {
    @Test(arguments: [(2, 2, 0, [2, 8, 6, 5]), (3, 2, 1, [2, 7, 9, 3]), (3, 1, 1, [1, 5, 4, 6])])
    func forwardMatchesNaiveLoopAndGradientsMatchFiniteDifferences(_ c: (k: Int, s: Int, p: Int, dims: [Int])) throws {
        let pool = try AvgPool2D(kernelSize: c.k, stride: c.s, padding: c.p)
        let x = Tensor.random(c.dims, seed: 52)
        let y = try pool.forward(x)
        let ref = referencePool(x, kernel: c.k, stride: c.s, padding: c.p, max: false)
        #expect(y.shape.dimensions == ref.shape)
        #expect(relativeError(y.scalars, ref.values) <= 1e-6)
        try checkGradients(of: pool, input: x)
    }
}

@Suite struct GlobalAvgPoolTests {
    @Test func forwardIsTheSpatialMeanAndGradientsMatchFiniteDifferences() throws {
        let x = Tensor.random([3, 4, 5, 6], seed: 53)
        let y = try GlobalAvgPool().forward(x)
        #expect(y.shape.dimensions == [3, 6])
        var expected = [Double](repeating: 0, count: 18)
        for n in 0..<3 { for p in 0..<20 { for c in 0..<6 { expected[n * 6 + c] += Double(x.scalars[(n * 20 + p) * 6 + c]) / 20 } } }
        #expect(relativeError(y.scalars, expected) <= 1e-6)
        try checkGradients(of: GlobalAvgPool(), input: x)
        #expect(throws: EngineError.self) { try GlobalAvgPool().prepare(for: Shape([3, 4])) }
    }
}

@Suite struct FlattenTests {
    @Test func keepsNHWCOrderAndPassesGradientsThrough() throws {
        let x = Tensor.random([2, 3, 4, 5], seed: 54)
        let y = try Flatten().forward(x)
        #expect(y.shape.dimensions == [2, 60])
        #expect(y.scalars == x.scalars)
        try checkGradients(of: Flatten(), input: x)
    }
}
