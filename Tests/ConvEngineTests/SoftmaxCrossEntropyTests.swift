import ConvEngine
import Foundation
import Testing

@Suite struct SoftmaxCrossEntropyTests {
    func evaluate(_ loss: SoftmaxCrossEntropy, _ logits: Tensor, _ labels: [Int32]) throws -> (SoftmaxCrossEntropy.Result, Tensor)
    {
        var z = logits, g = Tensor(shape: logits.shape)
        let result = try z.scalars.withUnsafeMutableBufferPointer { zp in
            try g.scalars.withUnsafeMutableBufferPointer { gp in
                try labels.withUnsafeBufferPointer { lp in
                    try loss.evaluate(
                        logits: TensorView(shape: logits.shape, data: zp.baseAddress!), labels: lp,
                        gradient: TensorView(shape: logits.shape, data: gp.baseAddress!))
                }
            }
        }
        return (result, g)
    }

    @Test(arguments: [Float(0), 0.1, 0.3])
    func lossMatchesDefinitionAndGradientMatchesFiniteDifferences(smoothing: Float) throws {
        let loss = try SoftmaxCrossEntropy(labelSmoothing: smoothing)
        let logits = Tensor.random([6, 9], seed: 81, scale: 3)
        let labels: [Int32] = [0, 8, 3, 3, 5, 1]
        let (result, gradient) = try evaluate(loss, logits, labels)
        var expected = 0.0
        for r in 0..<6 {
            let z = logits.scalars[(r * 9)..<(r * 9 + 9)].map(Double.init)
            let lse = log(z.map { exp($0) }.reduce(0, +))
            for j in 0..<9 {
                let q = (j == Int(labels[r]) ? 1 - Double(smoothing) : 0) + Double(smoothing) / 9
                expected -= q * (z[j] - lse) / 6
            }
        }
        #expect(abs(Double(result.loss) - expected) <= 1e-5 * abs(expected))
        let h: Float = 1e-2
        for i in stride(from: 0, to: 54, by: 5) {
            var plus = logits, minus = logits
            plus.scalars[i] += h
            minus.scalars[i] -= h
            let numeric =
                (Double(try evaluate(loss, plus, labels).0.loss) - Double(try evaluate(loss, minus, labels).0.loss))
                / (2 * Double(h))
            #expect(abs(numeric - Double(gradient.scalars[i])) <= 1e-3, "dlogits[\(i)]")
        }
    }

    @Test func countsCorrectPredictions() throws {
        let logits = try Tensor(shape: Shape([3, 3]), scalars: [5, 1, 0, 0, 1, 7, 2, 3, 1])
        #expect(try evaluate(SoftmaxCrossEntropy(), logits, [0, 1, 1]).0.correct == 2)
    }

    @Test func matchesPyTorchWithLabelSmoothing() throws {
        let f = try Fixtures.load("cross_entropy_smoothing")
        let (shape, values) = try f.floats("logits")
        let labels = try f.int64s("labels").values.map { Int32($0) }
        let (result, gradient) = try evaluate(
            SoftmaxCrossEntropy(labelSmoothing: 0.1), Tensor(shape: Shape(shape), scalars: values), labels)
        #expect(relativeError([result.loss], try f.floats("loss").values) <= 1e-5)
        #expect(relativeError(gradient.scalars, try f.floats("dlogits").values) <= 1e-5)
    }

    @Test func rejectsBadLabelsAndSmoothing() throws {
        #expect(throws: EngineError.self) { try SoftmaxCrossEntropy(labelSmoothing: 1) }
        let logits = Tensor.random([2, 4], seed: 82)
        #expect(throws: EngineError.self) { try evaluate(SoftmaxCrossEntropy(), logits, [0, 4]) }
        #expect(throws: EngineError.self) { try evaluate(SoftmaxCrossEntropy(), logits, [-1, 0]) }
        #expect(throws: EngineError.self) { try evaluate(SoftmaxCrossEntropy(), logits, [0]) }
    }
}
