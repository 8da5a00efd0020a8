import ConvEngine
import Testing

@Suite struct TensorTests {
    @Test func nchwConvertsToNHWCAndBack() throws {
        let nchw = try Tensor(shape: Shape([2, 3, 4, 5]), scalars: (0..<120).map(Float.init))
        let nhwc = try Tensor(nchw: nchw)
        #expect(nhwc.shape.dimensions == [2, 4, 5, 3])
        // Element (n=1, c=2, h=3, w=4) in NCHW sits at ((1·4+3)·5+4)·3+2 in NHWC.
        let nhwcIndex: Int = ((1 * 4 + 3) * 5 + 4) * 3 + 2, nchwIndex: Int = ((1 * 3 + 2) * 4 + 3) * 5 + 4
        #expect(nhwc.scalars[nhwcIndex] == nchw.scalars[nchwIndex])
        #expect(try nhwc.toNCHW() == nchw)
    }

    @Test func shapesAreValidated() throws {
        #expect(throws: EngineError.self) { try Shape([2, 0, 3]) }
        #expect(throws: EngineError.self) { try Shape([]) }
        #expect(throws: EngineError.self) { try Tensor(shape: Shape([2, 3]), scalars: [1, 2]) }
        #expect(throws: EngineError.self) { try Tensor(nchw: Tensor(shape: Shape([2, 3]))) }
    }

    @Test func parameterLayoutsRoundTripThroughPyTorchOrder() throws {
        let layouts: [(ParameterLayout, [Int], [Int])] = [
            (.ohwi, [4, 3, 2, 5], [4, 5, 3, 2]),
            (.depthwiseHWC, [3, 3, 7], [7, 1, 3, 3]),
            (.pointwise, [6, 4], [6, 4, 1, 1]),
            (.linearAfterNHWCFlatten(height: 2, width: 3, channels: 4), [5, 24], [5, 24]),
        ]
        for (layout, engine, pytorch) in layouts {
            let shape = try Shape(engine)
            #expect(layout.pytorchShape(for: shape) == pytorch)
            let values = (0..<shape.count).map(Float.init)
            let exported = layout.toPyTorch(values, shape: shape)
            #expect(Set(exported) == Set(values))
            #expect(layout.fromPyTorch(exported, shape: shape) == values)
        }
        // OHWI element (o=1, ky=2, kx=0, i=3) is OIHW element (1, 3, 2, 0).
        let ohwi = try Shape([4, 3, 2, 5])
        let exported = ParameterLayout.ohwi.toPyTorch((0..<120).map(Float.init), shape: ohwi)
        let oihwIndex: Int = ((1 * 5 + 3) * 3 + 2) * 2 + 0, ohwiIndex: Int = ((1 * 3 + 2) * 2 + 0) * 5 + 3
        #expect(exported[oihwIndex] == Float(ohwiIndex))
    }
}

@Suite struct RandomGeneratorTests {
    @Test func theGeneratorIsDeterministicAndRestorable() throws {
        var a = RandomGenerator(seed: 42), b = RandomGenerator(seed: 42)
        #expect((0..<10).map { _ in a.next() } == (0..<10).map { _ in b.next() })
        let saved = a.stateWords
        let expected = (0..<5).map { _ in a.next() }
        var restored = try RandomGenerator(state: saved)
        #expect((0..<5).map { _ in restored.next() } == expected)
        #expect(throws: EngineError.self) { try RandomGenerator(state: [0, 0, 0, 0]) }
        #expect(throws: EngineError.self) { try RandomGenerator(state: [1, 2]) }
    }

    @Test func uniformAndNormalHaveTheRightMoments() {
        var g = RandomGenerator(seed: 5)
        let u = (0..<100_000).map { _ in Double(g.nextUniform()) }
        #expect(u.allSatisfy { $0 >= 0 && $0 < 1 })
        #expect(abs(u.reduce(0, +) / 1e5 - 0.5) < 0.01)
        let n = (0..<100_000).map { _ in Double(g.nextNormal()) }
        let mean = n.reduce(0, +) / 1e5
        #expect(abs(mean) < 0.01)
        #expect(abs(n.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 1e5 - 1) < 0.02)
    }
}
