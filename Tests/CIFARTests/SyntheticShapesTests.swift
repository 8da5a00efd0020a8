import CIFAR
import ConvEngine
import Testing

@Suite struct SyntheticShapesTests {
    @Test func theSetIsDeterministicBalancedAndValid() throws {
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
}
