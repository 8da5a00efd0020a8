import CIFAR
import ConvEngine
import ConvModels
import Testing
import Training

/// The synthetic set is learnable: a demo on it shows a network learning.
@Suite struct SyntheticShapesTrainingTests {
    /// SeedNet learns the set well above chance (10%) in a few hundred steps (measured: 39% after 300,
    /// 80% after 600, 92% after 900 steps of 32).
    @Test func aSmallNetworkLearnsIt() throws {
        let data = try SyntheticShapes.dataset(trainCount: 4000, testCount: 500, seed: 1)
        let network = try ModelConfiguration(family: .seed).makeNetwork(maxBatchSize: 32, seed: 1)
        let optimizer = try Adam(parameters: network.trainableParameters)
        let loader = try BatchLoader(images: data.train, options: .init(batchSize: 32, normalization: .seed, seed: 1))
        let loss = try SoftmaxCrossEntropy()
        var labels = [Int32](repeating: 0, count: 32)
        for _ in 0..<600 {
            try labels.withUnsafeMutableBufferPointer { l in
                try loader.next(images: network.input.data, labels: l.baseAddress!)
                _ = try network.trainStep(labels: UnsafeBufferPointer(l), loss: loss, optimizer: optimizer, learningRate: 2e-3)
            }
        }
        let accuracy = try Evaluation.run(network, on: ImageSet(records: data.test), normalization: .seed, classCount: 10)
            .accuracy
        #expect(accuracy > 0.6, "test accuracy \(accuracy) after 600 steps")
    }
}
