import CIFAR
import ConvEngine
import ConvModels
import Testing

@Suite struct SyntheticShapesTests {
    @Test func deterministicBalancedAndValid() throws {
        let a = try SyntheticShapes.dataset(trainCount: 500, testCount: 100, seed: 3)
        let b = try SyntheticShapes.dataset(trainCount: 500, testCount: 100, seed: 3)
        let c = try SyntheticShapes.dataset(trainCount: 500, testCount: 100, seed: 4)
        #expect(a.train == b.train && a.test == b.test)
        #expect(a.train != c.train)
        #expect(a.train.pixels.count == 500 * 3072 && a.classNames.count == 10)
        #expect(a.train != a.test)
        let counts = (0..<10).map { k in a.train.labels.filter { $0 == k }.count }
        #expect(counts.allSatisfy { $0 > 25 }, "class counts \(counts)")
        #expect(throws: EngineError.self) { try SyntheticShapes.dataset(trainCount: 0, testCount: 10) }
    }

    /// SeedNet learns the set well above chance (10%) in a few hundred steps.
    @Test func aSmallNetworkLearnsIt() throws {
        let data = try SyntheticShapes.dataset(trainCount: 4000, testCount: 500, seed: 1)
        let network = try ModelConfiguration(family: .seed).makeNetwork(maxBatchSize: 32, seed: 1)
        let optimizer = try Adam(parameters: network.trainableParameters)
        let loader = try BatchLoader(images: data.train, options: .init(batchSize: 32, normalization: .seed, seed: 1))
        let loss = try SoftmaxCrossEntropy()
        var labels = [Int32](repeating: 0, count: 32)
        for _ in 0..<300 {
            try labels.withUnsafeMutableBufferPointer { l in
                loader.next(images: network.input.data, labels: l.baseAddress!)
                _ = try network.trainStep(labels: UnsafeBufferPointer(l), loss: loss, optimizer: optimizer, learningRate: 2e-3)
            }
        }
        let testLoader = try BatchLoader(images: data.test, options: .init(batchSize: 20, shuffle: false, normalization: .seed))
        var correct = 0
        for _ in 0..<testLoader.batchesPerEpoch {
            try labels.withUnsafeMutableBufferPointer { l in
                testLoader.next(images: network.input.data, labels: l.baseAddress!)
                correct += try network.evaluate(labels: UnsafeBufferPointer(l), loss: loss).correct
            }
        }
        let accuracy = Double(correct) / 500
        print("synthetic shapes: SeedNet test accuracy \(accuracy) after 300 steps of 32")
        #expect(accuracy > 0.5, "test accuracy \(accuracy) after 300 steps")
    }
}
