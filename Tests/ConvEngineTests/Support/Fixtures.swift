import ConvEngine
import Foundation

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
