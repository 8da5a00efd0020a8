import ConvEngine
import Foundation
import Testing

/// The committed PyTorch fixtures (Tests/Fixtures), found next to this source file.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    /// Loads `name.safetensors`.
    static func load(_ name: String) throws -> SafeTensors {
        try SafeTensors(contentsOf: directory.appendingPathComponent(name + ".safetensors"))
    }
}

extension SafeTensors {
    /// An NCHW fixture tensor converted to NHWC.
    func nhwc(_ name: String) throws -> Tensor {
        let (shape, values) = try floats(name)
        return try Tensor(nchw: Tensor(shape: Shape(shape), scalars: values))
    }

    /// A PyTorch-layout parameter tensor converted to `parameter`'s engine layout.
    func engineValues(_ name: String, for parameter: Parameter) throws -> [Float] {
        let (shape, values) = try floats(name)
        let expected = parameter.layout.pytorchShape(for: parameter.shape)
        guard shape == expected else {
            throw EngineError.shapeMismatch("fixture \(name) has shape \(shape), parameter wants \(expected)")
        }
        return parameter.layout.fromPyTorch(values, shape: parameter.shape)
    }

    /// Loads fixture tensor `name` into `parameter`.
    func load(_ name: String, into parameter: Parameter) throws {
        try parameter.assign(engineValues(name, for: parameter))
    }
}

/// Runs `layer` on a single-layer fixture: loads x and the trainable parameters, compares y, then
/// backpropagates the fixture's dy and compares dx and every parameter gradient. Buffers (running
/// statistics) start at their defaults, as in a fresh PyTorch module, and are compared after the step.
func checkAgainstFixture(_ name: String, layer: Layer) throws -> [String: Double] {
    let f = try Fixtures.load(name)
    for p in layer.parameters where p.isTrainable { try f.load(p.name, into: p) }
    let x = try f.nhwc("x")
    let context = ExecutionContext(isTraining: true)
    let y = try layer.forward(x, context: context)
    var errors: [String: Double] = [:]
    errors["y"] = relativeError(try y.toNCHW().scalars, try f.floats("y").values)
    for p in layer.parameters where p.isTrainable { p.zeroGradient() }
    let dy = try f.nhwc("dy")
    let dx = try layer.backward(dy, input: x, output: y, context: context)
    errors["dx"] = relativeError(try dx.toNCHW().scalars, try f.floats("dx").values)
    for p in layer.parameters {
        if p.isTrainable {
            let expected = try f.engineValues("d" + p.name, for: p)
            errors["d" + p.name] = relativeError(Array(p.gradient.buffer), expected)
        } else {
            let expected = try f.engineValues(p.name, for: p)
            errors[p.name] = relativeError(Array(p.value.buffer), expected)
        }
    }
    return errors
}

/// Compares the separable-stack fixture's parameter gradients ("grad.<name>") and updated buffers
/// ("after.<name>") with `named`.
///
/// The γ of a batch norm whose output reaches another batch norm through ReLU and a linear map is
/// nearly scale-invariant: its exact gradient is ~1e-6 while the network's largest is ~0.06, and
/// float32 cannot resolve it relatively (PyTorch's own float32 run is 2.5e-3 off the float64 reference
/// there). So each gradient is held to 1e-4 relative to the larger of its own norm and 1% of the
/// largest gradient norm in the network; buffers to 1e-4 of their own norm.
func checkStackParameters(
    _ named: [(name: String, parameter: Parameter)], against f: SafeTensors,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    func norm(_ v: [Float]) -> Double { v.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot() }
    do {
        let trainable = named.filter(\.parameter.isTrainable)
        let floor = 0.01 * (try trainable.map { norm(try f.engineValues("grad." + $0.name, for: $0.parameter)) }.max() ?? 0)
        for (name, p) in named {
            let (actual, expected) =
                p.isTrainable
                ? (Array(p.gradient.buffer), try f.engineValues("grad." + name, for: p))
                : (Array(p.value.buffer), try f.engineValues("after." + name, for: p))
            let difference = norm(zip(actual, expected).map { $0 - $1 })
            #expect(
                difference <= 1e-4 * max(norm(expected), p.isTrainable ? floor : 0),
                "\(name): ‖Δ‖ \(difference), ‖reference‖ \(norm(expected))", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record(error, sourceLocation: sourceLocation)
    }
}
