import CMobileNetCPU
import ConvEngine
import ConvModels

// A model's cost through the C API, counted from shapes alone as `mobilenet summary` counts it.

@_cdecl("mnc_model_cost")
public func mnc_model_cost(_ desc: UnsafePointer<mnc_model_desc>?, _ out: UnsafeMutablePointer<mnc_cost>?) -> mnc_status {
    call("mnc_model_cost") {
        let out = try required(out, "out")
        let comparison = try ModelConfiguration(try required(desc, "desc").pointee).costComparison()
        out.pointee = mnc_cost(
            macs: Int64(comparison.model.multiplyAccumulates), params: Int64(comparison.model.parameters),
            baseline_macs: Int64(comparison.baseline.multiplyAccumulates),
            baseline_params: Int64(comparison.baseline.parameters),
            macs_ratio: comparison.macsRatio, params_ratio: comparison.parameterRatio)
    }
}

/// Copies `text` into a fixed C char array, cut to fit with its terminating zero.
private func copy<T>(_ text: String, into field: inout T) {
    withUnsafeMutableBytes(of: &field) { raw in
        let bytes = Array(text.utf8.prefix(raw.count - 1))
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
}

@_cdecl("mnc_model_layers")
public func mnc_model_layers(
    _ desc: UnsafePointer<mnc_model_desc>?, _ baseline: Int32, _ layers: UnsafeMutablePointer<mnc_layer_cost>?,
    _ capacity: Int, _ count: UnsafeMutablePointer<Int>?
) -> mnc_status {
    call("mnc_model_layers") {
        let count = try required(count, "count")
        guard capacity >= 0 else { throw CallError.argument("capacity must not be negative, got \(capacity)") }
        guard capacity == 0 || layers != nil else { throw CallError.argument("layers is null but capacity is \(capacity)") }
        var configuration = try ModelConfiguration(try required(desc, "desc").pointee)
        if baseline != 0 { configuration = configuration.baseline }
        let cost = try configuration.cost()
        count.pointee = cost.layers.count
        for (i, layer) in cost.layers.prefix(capacity).enumerated() {
            var row = mnc_layer_cost()
            copy(layer.name, into: &row.name)
            copy(layer.kind, into: &row.kind)
            let shape = layer.outputShape.map { Int32(clamping: $0) } + [0, 0, 0]
            row.output = (shape[0], shape[1], shape[2])
            row.macs = Int64(layer.multiplyAccumulates)
            row.params = Int64(layer.parameters)
            layers![i] = row
        }
    }
}
