import ConvEngine
import Testing

@Suite struct ReLUTests {
    @Test func forwardMatchesDefinition() throws {
        let x = Tensor.random([2, 3, 4, 5], seed: 41, scale: 8)
        let plain = try ReLU().forward(x), capped = try ReLU6().forward(x)
        #expect(plain.scalars == x.scalars.map { max($0, 0) })
        #expect(capped.scalars == x.scalars.map { min(max($0, 0), 6) })
    }

    @Test func backwardMatchesFiniteDifferences() throws {
        try checkGradients(of: ReLU(), input: .randomAwayFromZero([2, 3, 4, 5], seed: 42))
        // Values in ±[0.1, 1]·8 straddle both kinks of ReLU6; keep them away from 6 as well.
        var x = Tensor.randomAwayFromZero([2, 3, 4, 5], seed: 43)
        x.scalars = x.scalars.map { $0 * 8 }.map { abs($0 - 6) < 0.1 ? $0 + 0.3 : $0 }
        try checkGradients(of: ReLU6(), input: x)
    }

    @Test func rejectsNonPositiveCap() {
        #expect(throws: EngineError.self) { try ReLU(cap: 0) }
    }
}
