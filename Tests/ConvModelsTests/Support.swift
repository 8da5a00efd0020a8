import ConvEngine
import ConvModels
import Foundation
import Testing

/// A committed fixture from Tests/Fixtures, found next to this source file.
func fixture(_ name: String) throws -> SafeTensors {
    try SafeTensors(
        contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/\(name).safetensors"))
}

/// A deterministic batch for step `step`: images with values in [-1, 1] and labels 0..<classes.
func syntheticBatch(step: Int, batch: Int, side: Int, classes: Int) -> (images: Tensor, labels: [Int32]) {
    var g = RandomGenerator(seed: UInt64(1000 + step))
    let shape = try! Shape([batch, side, side, 3])  // positive by construction
    let images = try! Tensor(shape: shape, scalars: (0..<shape.count).map { _ in 2 * g.nextUniform() - 1 })
    return (images, (0..<batch).map { _ in Int32(g.next() % UInt64(classes)) })
}

/// Copies a batch into the network's input and runs one training step.
@discardableResult
func step(
    _ network: Sequential, _ batch: (images: Tensor, labels: [Int32]), _ optimizer: Optimizer,
    lr: Float, loss: SoftmaxCrossEntropy = try! SoftmaxCrossEntropy()
) throws -> SoftmaxCrossEntropy.Result {
    try network.input.copy(from: batch.images)
    return try batch.labels.withUnsafeBufferPointer {
        try network.trainStep(labels: $0, loss: loss, optimizer: optimizer, learningRate: lr)
    }
}

extension ModelConfiguration: CustomTestStringConvertible {
    public var testDescription: String { displayName }
}
