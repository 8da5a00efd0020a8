import ConvEngine
import Testing

@Suite struct DropoutTests {
    @Test func trainingDropsAboutPAndScalesSurvivors() throws {
        let drop = try Dropout(probability: 0.3)
        let x = Tensor(shape: try Shape([100, 100]), repeating: 1)
        let y = try drop.forward(x, context: ExecutionContext(isTraining: true))
        let zeros = y.scalars.filter { $0 == 0 }.count
        #expect(abs(Double(zeros) / 10_000 - 0.3) < 0.02)
        #expect(y.scalars.allSatisfy { $0 == 0 || abs($0 - 1 / 0.7) < 1e-6 })
    }

    @Test func evaluationIsIdentity() throws {
        let x = Tensor.random([4, 8], seed: 71)
        #expect(try Dropout(probability: 0.5).forward(x, context: ExecutionContext(isTraining: false)) == x)
    }

    @Test func backwardMatchesFiniteDifferencesWithAFixedMask() throws {
        try checkGradients(of: Dropout(probability: 0.4), input: .random([3, 4, 4, 5], seed: 72))
    }

    @Test func rejectsBadProbability() {
        #expect(throws: EngineError.self) { try Dropout(probability: 1) }
        #expect(throws: EngineError.self) { try Dropout(probability: -0.1) }
    }
}
