import ConvEngine
import Testing

/// Central finite differences against a layer's backward pass.
///
/// The scalar checked is L = Σ y·r for a fixed random r (so dL/dy = r). For the input and for every
/// trainable parameter, up to `samples` elements are perturbed by ±h and (L⁺ − L⁻)/2h compared with
/// the analytic gradient: |numeric − analytic| ≤ tolerance · (|analytic| + max|analytic|·0.2).
/// Stochastic layers see the same generator state on every forward.
func checkGradients(
    of layer: Layer, input x: Tensor, training: Bool = true, h: Float = 1e-2,
    tolerance: Double = 2e-3, samples: Int = 60, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let context = ExecutionContext(isTraining: training)
    let savedGenerator = context.generator
    func loss(_ input: Tensor, _ r: Tensor) throws -> Double {
        context.generator = savedGenerator
        let y = try layer.forward(input, context: context)
        var s = 0.0
        for i in y.scalars.indices { s += Double(y.scalars[i]) * Double(r.scalars[i]) }
        return s
    }
    context.generator = savedGenerator
    let y = try layer.forward(x, context: context)
    let r = Tensor.random(y.shape.dimensions, seed: 99)
    for p in layer.parameters where p.isTrainable { p.zeroGradient() }
    let dx = try layer.backward(r, input: x, output: y, context: context)
    let analyticParams = layer.parameters.filter(\.isTrainable).map { Array($0.gradient.buffer) }

    var xCurrent = x
    func compare(_ name: String, analytic: [Float], perturb: (Int, Float) -> Void) throws {
        let scale = Double(analytic.map { abs($0) }.max() ?? 0)
        let stride = max(1, analytic.count / samples)
        var worst = 0.0
        for i in Swift.stride(from: 0, to: analytic.count, by: stride) {
            perturb(i, h)
            let plus = try loss(xCurrent, r)
            perturb(i, -2 * h)
            let minus = try loss(xCurrent, r)
            perturb(i, h)
            let numeric = (plus - minus) / (2 * Double(h))
            let allowed = tolerance * (abs(Double(analytic[i])) + 0.2 * scale) + 1e-6
            worst = max(worst, abs(numeric - Double(analytic[i])) / allowed)
            #expect(
                abs(numeric - Double(analytic[i])) <= allowed,
                "\(layer.kind) d\(name)[\(i)]: numeric \(numeric) vs analytic \(analytic[i])",
                sourceLocation: sourceLocation)
        }
        #expect(scale > 0, "\(layer.kind) d\(name) is all zeros; the check would prove nothing", sourceLocation: sourceLocation)
    }
    try compare("x", analytic: dx.scalars) { i, delta in xCurrent.scalars[i] += delta }
    for (p, analytic) in zip(layer.parameters.filter(\.isTrainable), analyticParams) {
        try compare(p.name, analytic: analytic) { i, delta in p.value.data[i] += delta }
    }
}
