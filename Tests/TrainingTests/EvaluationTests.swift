import CIFAR
import ConvEngine
import ConvModels
import Testing

@testable import Training

/// Flip test-time augmentation: each image's logits are the mean of its own and its mirror's.
@Suite struct EvaluationTests {
    /// `count` random CIFAR records, and the same records mirrored left to right.
    static func records(_ count: Int) throws -> (LabeledImages, LabeledImages) {
        var g = RandomGenerator(seed: 12)
        let pixels = (0..<(count * 3072)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        let labels = (0..<count).map { Int32($0 % 10) }
        var mirrored = pixels
        for plane in 0..<(count * 3) {
            for y in 0..<32 {
                for x in 0..<32 { mirrored[plane * 1024 + y * 32 + x] = pixels[plane * 1024 + y * 32 + 31 - x] }
            }
        }
        return (try LabeledImages(pixels: pixels, labels: labels), try LabeledImages(pixels: mirrored, labels: labels))
    }

    @Test func flipAveragesEachImageWithItsMirror() throws {
        let (plain, mirrored) = try Self.records(37)
        let network = try ModelConfiguration(family: .seed).makeNetwork(maxBatchSize: 16, seed: 5)
        func evaluate(_ set: LabeledImages, flip: Bool) throws -> Evaluation {
            try Evaluation.run(
                network, on: ImageSet(records: set), normalization: .seed, classCount: 10, keepLogits: true,
                flipTestTime: flip)
        }
        let a = try evaluate(plain, flip: false), b = try evaluate(mirrored, flip: false)
        let both = try evaluate(plain, flip: true)
        let expected = zip(try #require(a.logits), try #require(b.logits)).map { 0.5 * ($0 + $1) }
        #expect(both.logits == expected)
        #expect(a.logits != b.logits, "the mirror changed nothing: the test would not see a missing flip")
        // Accuracy and the confusion matrix follow the averaged logits.
        let predictions = stride(from: 0, to: expected.count, by: 10).map { row in
            (0..<10).max { expected[row + $0] < expected[row + $1] }!
        }
        let correct = predictions.enumerated().filter { $0.offset % 10 == $0.element }.count
        #expect(both.correct == correct && both.count == 37)
    }

    @Test func mirroringTwiceIsTheIdentity() throws {
        let storage = FloatStorage(count: 90)
        for i in 0..<90 { storage.data[i] = Float(i) }
        let view = TensorView(shape: try Shape([2, 3, 5, 3]), data: storage.data)
        Evaluation.mirror(view)
        // Pixel 0 of row 0 and pixel 4 (floats 12-14) trade places; the middle pixel stays.
        #expect(Array(storage.buffer[0..<3]) == [12, 13, 14] && Array(storage.buffer[12..<15]) == [0, 1, 2])
        #expect(Array(storage.buffer[6..<9]) == [6, 7, 8])
        Evaluation.mirror(view)
        #expect(Array(storage.buffer) == (0..<90).map(Float.init))
    }
}
