import Testing

@testable import ConvEngine

@Suite struct MaxPool2DTests {
    // Channels below 8, and 12 or 16 (eight lanes at a time, then the rest).
    @Test(arguments: [
        (2, 2, 0, [2, 8, 6, 5]), (3, 2, 1, [2, 7, 9, 3]), (3, 1, 1, [1, 5, 4, 6]), (2, 2, 0, [1, 5, 7, 4]),
        (3, 2, 1, [1, 5, 6, 12]), (2, 1, 1, [1, 4, 5, 16]),
    ])
    func forwardMatchesNaiveLoopAndGradientsMatchFiniteDifferences(_ c: (k: Int, s: Int, p: Int, dims: [Int])) throws {
        let pool = try MaxPool2D(kernelSize: c.k, stride: c.s, padding: c.p)
        let x = Tensor.randomDistinct(c.dims, seed: 51)
        let y = try pool.forward(x)
        let ref = referencePool(x, kernel: c.k, stride: c.s, padding: c.p, max: true)
        #expect(y.shape.dimensions == ref.shape)
        #expect(relativeError(y.scalars, ref.values) <= 1e-6)
        try checkGradients(of: pool, input: x, h: 1e-2)
    }

    /// An input large enough to be split over threads: forward and the routed gradient equal the
    /// naive loops, bit for bit the same on one thread and two.
    @Test(arguments: [(2, 2, 0), (3, 2, 1)])
    func largeInputsMatchNaiveLoopOnAnyThreadCount(_ c: (k: Int, s: Int, p: Int)) throws {
        let x = Tensor.randomDistinct([8, 16, 16, 20], seed: 52)
        func run(threads: Int) throws -> (y: Tensor, dx: Tensor, dy: Tensor) {
            try Parallel.withThreadCount(threads) {
                let pool = try MaxPool2D(kernelSize: c.k, stride: c.s, padding: c.p)
                let y = try pool.forward(x)
                let dy = Tensor.random(y.shape.dimensions, seed: 53)
                return (y, try pool.backward(dy, input: x, output: y), dy)
            }
        }
        let one = try run(threads: 1), two = try run(threads: 2)
        #expect(one.y == two.y && one.dx == two.dx)
        #expect(relativeError(two.y.scalars, referencePool(x, kernel: c.k, stride: c.s, padding: c.p, max: true).values) == 0)
        let dx = referenceMaxPoolBackward(x, dy: two.dy, kernel: c.k, stride: c.s, padding: c.p)
        #expect(relativeError(two.dx.scalars, dx) <= 1e-7)
    }

    /// Of equal values the first in the window wins, as in PyTorch (here every value ties).
    @Test func tiesGoToTheFirstInTheWindow() throws {
        let x = Tensor(shape: try Shape([1, 4, 4, 12]))
        let pool = try MaxPool2D(kernelSize: 2, padding: 1)
        let y = try pool.forward(x)
        let dy = Tensor(shape: y.shape, repeating: 1)
        let dx = try pool.backward(dy, input: x, output: y)
        #expect(relativeError(dx.scalars, referenceMaxPoolBackward(x, dy: dy, kernel: 2, stride: 2, padding: 1)) == 0)
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
        for n in 0..<3 {
            for p in 0..<20 { for c in 0..<6 { expected[n * 6 + c] += Double(x.scalars[(n * 20 + p) * 6 + c]) / 20 } }
        }
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
