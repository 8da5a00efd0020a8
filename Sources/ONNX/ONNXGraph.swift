import Foundation
import SwiftProtobuf

/// An ONNX graph being written: nodes in order, their weights as initializers, and the names of the
/// values between them. A thin layer over the generated protobuf types (onnx.pb.swift), so that the
/// exporter reads as a list of operators.
struct ONNXGraph {
    private(set) var proto = Onnx_GraphProto()
    private var counts: [String: Int] = [:]

    init(name: String) { proto.name = name }

    /// A float32 initializer of `shape` (row-major) named `name`; returns its name.
    @discardableResult
    mutating func initializer(_ name: String, shape: [Int], _ values: [Float]) -> String {
        precondition(shape.reduce(1, *) == values.count, "initializer \(name): shape \(shape) for \(values.count) values")
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.dims = shape.map(Int64.init)
        tensor.rawData = values.withUnsafeBytes { Data($0) }  // little-endian float32, as ONNX stores raw data
        proto.initializer.append(tensor)
        return name
    }

    /// Appends a node of `op` over `inputs` with `attributes`; returns the name of its output, which
    /// is `output` when given, else "<op>_<n>".
    @discardableResult
    mutating func node(
        _ op: String, _ inputs: [String], attributes: [Onnx_AttributeProto] = [], output: String? = nil, name: String? = nil
    ) -> String {
        let n = counts[op, default: 0]
        counts[op] = n + 1
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = name ?? "\(op)_\(n)"
        node.input = inputs
        node.output = [output ?? "\(node.name)_output"]
        node.attribute = attributes
        proto.node.append(node)
        return node.output[0]
    }

    /// Declares a float32 graph input or output; a `nil` dimension is symbolic, named `symbol`.
    static func value(_ name: String, dimensions: [Int?], symbol: String = "N") -> Onnx_ValueInfoProto {
        var info = Onnx_ValueInfoProto()
        info.name = name
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.shape.dim = dimensions.map { d in
            var dimension = Onnx_TensorShapeProto.Dimension()
            if let d { dimension.dimValue = Int64(d) } else { dimension.dimParam = symbol }
            return dimension
        }
        info.type.tensorType = tensor
        return info
    }

    mutating func input(_ info: Onnx_ValueInfoProto) { proto.input.append(info) }
    mutating func output(_ info: Onnx_ValueInfoProto) { proto.output.append(info) }
}

/// Attribute constructors, named as ONNX names the attributes' types.
enum Attribute {
    static func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = values.map(Int64.init)
        return a
    }

    static func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = Int64(value)
        return a
    }

    static func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .float
        a.f = value
        return a
    }
}
