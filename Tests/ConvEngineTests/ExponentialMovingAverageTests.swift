import ConvEngine
import Testing

@Suite struct ExponentialMovingAverageTests {
    /// The averages follow a ← d·a + (1 − d)·p with d = min(decay, (1 + t)/(10 + t)), computed here
    /// in Double from the values the parameter took, for a trainable parameter and a buffer alike.
    @Test func updatesFollowTheDefinitionWithItsWarmUp() throws {
        let weight = try Parameter(name: "weight", shape: try Shape([3]), isWeight: true)
        let buffer = try Parameter(name: "running_mean", shape: try Shape([2]), isTrainable: false)
        try weight.assign([1, -2, 0.5])
        try buffer.assign([0, 4])
        let ema = try ExponentialMovingAverage(parameters: [weight, buffer], decay: 0.9)
        var expected: [[Double]] = [[1, -2, 0.5], [0, 4]]
        for t in 0..<40 {
            try weight.assign([Float(t), Float(-t) / 3, 0.5 + Float(t % 3)])
            try buffer.assign([Float(t * t) / 10, 4])
            let d = min(0.9, Double(1 + t) / Double(10 + t))
            #expect(abs(Double(ema.currentDecay) - d) < 1e-7)
            ema.update()
            for (k, p) in [weight, buffer].enumerated() {
                for j in 0..<p.count { expected[k][j] = d * expected[k][j] + (1 - d) * Double(p.value.data[j]) }
            }
        }
        #expect(ema.updateCount == 40)
        for (k, p) in [weight, buffer].enumerated() {
            let a = Array(ema.average(of: p)!.buffer)
            for j in 0..<p.count { #expect(abs(Double(a[j]) - expected[k][j]) <= 1e-5 * max(1, abs(expected[k][j]))) }
        }
    }

    /// Inside `withAveragesSwappedIn` the parameters hold the averages; afterwards the live values are
    /// back bit for bit, also when the body throws.
    @Test func swappingInIsExactAndUndone() throws {
        let p = try Parameter(name: "weight", shape: try Shape([4]), isWeight: true)
        try p.assign([0.1, 0.2, 0.3, 0.4])
        let ema = try ExponentialMovingAverage(parameters: [p], decay: 0.5)
        try p.assign([1.1, -0.7, 3.3, 1e-8])
        ema.update()
        let live = Array(p.value.buffer), average = Array(ema.average(of: p)!.buffer)
        #expect(live != average)
        let seen = ema.withAveragesSwappedIn { Array(p.value.buffer) }
        #expect(seen == average && Array(p.value.buffer) == live)
        struct Failure: Error {}
        #expect(throws: Failure.self) { try ema.withAveragesSwappedIn { throw Failure() } }
        #expect(Array(p.value.buffer) == live && Array(ema.average(of: p)!.buffer) == average)
    }

    @Test func rejectsDecaysOutsideTheOpenUnitIntervalAndRepeatedParameters() throws {
        let p = try Parameter(name: "weight", shape: try Shape([1]))
        for decay: Float in [0, 1, -0.5, 1.5, .nan] {
            #expect(throws: EngineError.self) { try ExponentialMovingAverage(parameters: [p], decay: decay) }
        }
        #expect(throws: EngineError.self) { try ExponentialMovingAverage(parameters: [p, p], decay: 0.9) }
    }
}
