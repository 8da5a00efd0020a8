import ConvEngine
import ConvModels
import Foundation
import SwiftProtobuf

/// The weights of an ONNX model that `mobilenet export` wrote (`ONNXExport`), back as a PyTorch
/// state dict for `CheckpointImport`.
///
/// The model is read from the file's `mobilenetcpu.model` metadata and the weights from its
/// initializers, which carry the checkpoint's names. A batch norm that the export folded into its
/// convolution comes back as an identity batch norm (scale 1, mean 0, variance 1 − ε) whose shift
/// is the folded bias: the network computes the same logits, though the original statistics are
/// gone. ONNX models from other exporters have no such metadata and are refused.
public enum ONNXImport {
    /// What an exported model holds.
    public struct Contents {
        /// The model.
        public var model: ModelConfiguration
        /// Its class names, when the file records them.
        public var classNames: [String]?
        /// Its weights under PyTorch's names and in PyTorch's layouts.
        public var stateDict: SafeTensors
    }

    /// Reads an exported model from `data` (the bytes of an `.onnx` file named `source` in errors).
    ///
    /// - Throws: `EngineError.corruptData` when the bytes are not an ONNX model, the model was not
    ///   exported by MobileNetCPU, or a weight is missing, misshapen or not float32.
    public static func read(_ data: Data, source: String) throws -> Contents {
        func corrupt(_ why: String) -> EngineError { .corruptData("\(source): \(why)") }
        let proto: Onnx_ModelProto
        do { proto = try Onnx_ModelProto(serializedBytes: data) } catch {
            throw corrupt("not an ONNX model (\(error))")
        }
        let metadata = Dictionary(proto.metadataProps.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        guard let modelText = metadata["mobilenetcpu.model"] else {
            throw corrupt(
                "no mobilenetcpu.model metadata: only models written by `mobilenet export` can be imported (import a PyTorch model from its state_dict instead)"
            )
        }
        let model: ModelConfiguration
        do { model = try JSONDecoder().decode(ModelConfiguration.self, from: Data(modelText.utf8)) } catch {
            throw corrupt("metadata mobilenetcpu.model describes no model: \(error)")
        }
        let classNames = metadata["class_names"].flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) }

        var initializers: [String: (shape: [Int], values: [Float])] = [:]
        for tensor in proto.graph.initializer {
            initializers[tensor.name] = try floats(of: tensor, corrupt: corrupt)
        }
        func take(_ name: String) throws -> (shape: [Int], values: [Float]) {
            guard let t = initializers[name] else { throw corrupt("missing initializer \"\(name)\"") }
            return t
        }

        var state = SafeTensors()
        let plan = try model.plan()
        for (i, layer) in plan.enumerated() {
            let name = layer.name
            func copy(_ suffix: String) throws {
                let t = try take("\(name).\(suffix)")
                try state.setFloats("\(name).\(suffix)", shape: t.shape, t.values)
            }
            switch layer.spec {
            case .conv(_, _, _, _, _, let bias), .depthwise(_, _, _, _, let bias), .pointwise(_, _, let bias):
                try copy("weight")
                if bias { try copy("bias") }
            case .linear:
                try copy("weight")
                try copy("bias")
            case .batchNorm(let channels):
                try state.setInt64s("\(name).num_batches_tracked", shape: [], [0])
                if initializers["\(name).running_var"] != nil {
                    for suffix in ["weight", "bias", "running_mean", "running_var"] { try copy(suffix) }
                    continue
                }
                // Folded into the convolution before it: an identity batch norm that adds its bias.
                guard i > 0 else { throw corrupt("batch norm \(name) has no convolution before it") }
                let shift = try take("\(plan[i - 1].name).bias")
                guard shift.values.count == channels else { throw corrupt("\(plan[i - 1].name).bias has \(shift.shape)") }
                let epsilon: Float = 1e-5
                try state.setFloats("\(name).weight", shape: [channels], [Float](repeating: 1, count: channels))
                try state.setFloats("\(name).bias", shape: [channels], shift.values)
                try state.setFloats("\(name).running_mean", shape: [channels], [Float](repeating: 0, count: channels))
                try state.setFloats("\(name).running_var", shape: [channels], [Float](repeating: 1 - epsilon, count: channels))
            case .relu, .maxPool, .globalAvgPool, .flatten:
                continue
            }
        }
        return Contents(model: model, classNames: classNames, stateDict: state)
    }

    /// A float32 initializer's shape and values (raw little-endian bytes or `float_data`).
    private static func floats(
        of tensor: Onnx_TensorProto, corrupt: (String) -> EngineError
    ) throws -> (shape: [Int], values: [Float]) {
        guard tensor.dataType == Int32(Onnx_TensorProto.DataType.float.rawValue) else {
            throw corrupt("initializer \"\(tensor.name)\" is not float32 (data type \(tensor.dataType))")
        }
        guard tensor.dims.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }) else {
            throw corrupt("initializer \"\(tensor.name)\" has dimensions \(tensor.dims)")
        }
        let shape = tensor.dims.map { Int($0) }
        let count = try Checked.product(shape, orThrow: corrupt("initializer \"\(tensor.name)\" is too large"))
        let values: [Float]
        if tensor.hasRawData {
            guard tensor.rawData.count == count * MemoryLayout<Float>.size else {
                throw corrupt("initializer \"\(tensor.name)\" holds \(tensor.rawData.count) bytes for shape \(shape)")
            }
            values = tensor.rawData.withUnsafeBytes { raw in
                (0..<count).map {
                    Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
                }
            }
        } else {
            guard tensor.floatData.count == count else {
                throw corrupt("initializer \"\(tensor.name)\" holds \(tensor.floatData.count) values for shape \(shape)")
            }
            values = tensor.floatData
        }
        return (shape, values)
    }
}
