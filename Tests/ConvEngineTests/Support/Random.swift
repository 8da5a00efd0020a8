import ConvEngine

/// Deterministic test data.
extension Tensor {
    /// A tensor with uniform values in [-scale, scale].
    static func random(_ dims: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
        var g = RandomGenerator(seed: seed)
        let shape = try! Shape(dims)
        return try! Tensor(shape: shape, scalars: (0..<shape.count).map { _ in (2 * g.nextUniform() - 1) * scale })
    }

    /// A tensor whose values are away from zero (|v| ≥ 0.1), so finite differences do not cross a ReLU kink.
    static func randomAwayFromZero(_ dims: [Int], seed: UInt64) -> Tensor {
        var t = random(dims, seed: seed)
        t.scalars = t.scalars.map { $0 >= 0 ? $0 * 0.9 + 0.1 : $0 * 0.9 - 0.1 }
        return t
    }

    /// Distinct values 0.05 apart in a random order, so no pooling window has a near tie.
    static func randomDistinct(_ dims: [Int], seed: UInt64) -> Tensor {
        var g = RandomGenerator(seed: seed)
        let shape = try! Shape(dims)
        var values = (0..<shape.count).map { Float($0) * 0.05 - Float(shape.count) * 0.025 }
        values.shuffle(using: &g)
        return try! Tensor(shape: shape, scalars: values)
    }
}

/// Fills a parameter with uniform values in [-scale, scale].
func randomize(_ p: Parameter, seed: UInt64, scale: Float = 0.5) {
    var g = RandomGenerator(seed: seed)
    for i in 0..<p.count { p.value.data[i] = (2 * g.nextUniform() - 1) * scale }
}

/// ‖a − b‖₂ / ‖b‖₂, in Double.
func relativeError(_ a: [Float], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "compared arrays differ in length: \(a.count) vs \(b.count)")
    var num = 0.0, den = 0.0
    for i in a.indices {
        num += (Double(a[i]) - b[i]) * (Double(a[i]) - b[i])
        den += b[i] * b[i]
    }
    return den == 0 ? num.squareRoot() : (num / den).squareRoot()
}

func relativeError(_ a: [Float], _ b: [Float]) -> Double { relativeError(a, b.map(Double.init)) }

/// How many elements of two equally long arrays differ (by `==`): a bit-equality check whose
/// failure message stays short, where `#expect(a == b)` on large arrays would print (and first
/// compute) their whole difference.
func differingElements(_ a: [Float], _ b: [Float]) -> Int {
    precondition(a.count == b.count, "compared arrays differ in length: \(a.count) vs \(b.count)")
    return zip(a, b).reduce(0) { $0 + ($1.0 == $1.1 ? 0 : 1) }
}
