import CMobileNetCPU
import ConvEngine

// The convolution kernels through the C API, on the caller's NHWC buffers: each call builds the
// layer for its shape (copying the caller's weights in, which are small beside the activations),
// runs it on views of the caller's input and output, and copies the gradients out.

/// The three kinds of convolution a kernel call can be.
private enum Kind {
    case standard, depthwise, pointwise
}

private func algorithm(_ value: Int32) throws -> ConvolutionAlgorithm {
    guard (0...3).contains(value) else { throw CallError.argument("algorithm must be 0 (auto) to 3 (winograd), got \(value)") }
    return [ConvolutionAlgorithm.auto, .im2col, .direct, .winograd][Int(value)]
}

/// The layer for a shape, its input shape, and its output shape (prepared).
private func layer(_ kind: Kind, _ s: mnc_conv_shape, _ algorithm: ConvolutionAlgorithm, bias: Bool) throws -> (
    Layer, Shape, Shape
) {
    let n = try checked(s.n, "n"), h = try checked(s.height, "height"), w = try checked(s.width, "width")
    let cin = try checked(s.in_channels, "in_channels"), cout = try checked(s.out_channels, "out_channels")
    let layer: Layer
    switch kind {
    case .standard:
        layer = try Conv2D(
            inputChannels: cin, outputChannels: cout, kernelSize: try checked(s.kernel, "kernel"),
            stride: try checked(s.stride, "stride"), padding: try checked(s.padding, "padding", in: 0...Int.max),
            bias: bias, algorithm: algorithm)
    case .depthwise:
        guard cin == cout else {
            throw CallError.shape("a depthwise convolution has in_channels = out_channels, got \(cin) and \(cout)")
        }
        layer = try DepthwiseConv2D(
            channels: cin, kernelSize: try checked(s.kernel, "kernel"), stride: try checked(s.stride, "stride"),
            padding: try checked(s.padding, "padding", in: 0...Int.max), bias: bias)
    case .pointwise:
        layer = try PointwiseConv2D(inputChannels: cin, outputChannels: cout, bias: bias, algorithm: algorithm)
    }
    let input = try Shape([n, h, w, cin])
    let output = try layer.prepare(for: input)
    return (layer, input, output)
}

/// The weight and bias parameters of a convolution layer.
private func parameters(_ layer: Layer) -> (weight: Parameter, bias: Parameter?) {
    let all = layer.parameters
    return (all[0], all.count > 1 ? all[1] : nil)
}

/// A context whose workspace is the caller's, when given (else one the call allocates).
private func context(_ workspace: UnsafeMutablePointer<Float>?, _ floats: Int, needs: Int) throws -> ExecutionContext {
    guard let workspace else {
        let context = ExecutionContext()
        context.workspace.reserve(needs)
        return context
    }
    guard floats >= needs else { throw CallError.shape("workspace_floats \(floats) is less than the \(needs) this call needs") }
    return ExecutionContext(workspace: Workspace(borrowing: workspace, count: floats))
}

private func forward(
    _ kind: Kind, _ function: String, _ shape: UnsafePointer<mnc_conv_shape>?, _ algorithmValue: Int32,
    _ x: UnsafePointer<Float>?, _ weight: UnsafePointer<Float>?, _ bias: UnsafePointer<Float>?,
    _ y: UnsafeMutablePointer<Float>?, _ workspace: UnsafeMutablePointer<Float>?, _ workspaceFloats: Int
) -> mnc_status {
    call(function) {
        let (layer, input, output) = try layer(
            kind, try required(shape, "shape").pointee, try algorithm(algorithmValue), bias: bias != nil)
        let x = try required(x, "x"), weight = try required(weight, "weight"), y = try required(y, "y")
        let (w, b) = parameters(layer)
        w.value.data.update(from: weight, count: w.count)
        if let b, let bias { b.value.data.update(from: bias, count: b.count) }
        try layer.forward(
            TensorView(shape: input, data: UnsafeMutablePointer(mutating: x)), into: TensorView(shape: output, data: y),
            context: try context(workspace, workspaceFloats, needs: layer.workspaceCount))
    }
}

private func backward(
    _ kind: Kind, _ function: String, _ shape: UnsafePointer<mnc_conv_shape>?, _ algorithmValue: Int32,
    _ x: UnsafePointer<Float>?, _ weight: UnsafePointer<Float>?, _ dy: UnsafePointer<Float>?,
    _ dx: UnsafeMutablePointer<Float>?, _ dweight: UnsafeMutablePointer<Float>?, _ dbias: UnsafeMutablePointer<Float>?,
    _ workspace: UnsafeMutablePointer<Float>?, _ workspaceFloats: Int
) -> mnc_status {
    call(function) {
        let (layer, input, output) = try layer(
            kind, try required(shape, "shape").pointee, try algorithm(algorithmValue), bias: dbias != nil)
        let x = try required(x, "x"), weight = try required(weight, "weight"), dy = try required(dy, "dy")
        let dweight = try required(dweight, "dweight")
        let (w, b) = parameters(layer)
        w.value.data.update(from: weight, count: w.count)
        // The layer's backward reads its forward output only for an absorbed rectifier; it has none.
        let context = try context(workspace, workspaceFloats, needs: layer.workspaceCount)
        let dyView = TensorView(shape: output, data: UnsafeMutablePointer(mutating: dy))
        try layer.backward(
            dyView, input: TensorView(shape: input, data: UnsafeMutablePointer(mutating: x)), output: dyView,
            into: dx.map { TensorView(shape: input, data: $0) }, context: context)
        dweight.update(from: w.gradient.data, count: w.count)
        if let b, let dbias { dbias.update(from: b.gradient.data, count: b.count) }
    }
}

@_cdecl("mnc_conv_output_size")
public func mnc_conv_output_size(
    _ shape: UnsafePointer<mnc_conv_shape>?, _ height: UnsafeMutablePointer<Int32>?,
    _ width: UnsafeMutablePointer<Int32>?
) -> mnc_status {
    call("mnc_conv_output_size") {
        let s = try required(shape, "shape").pointee
        let g = try WindowGeometry(
            input: Shape([
                try checked(s.n, "n"), try checked(s.height, "height"), try checked(s.width, "width"),
                try checked(s.in_channels, "in_channels"),
            ]),
            kernel: Int(s.kernel), stride: Int(s.stride), padding: Int(s.padding), role: "conv")
        height?.pointee = Int32(g.outputHeight)
        width?.pointee = Int32(g.outputWidth)
    }
}

@_cdecl("mnc_conv_workspace_size")
public func mnc_conv_workspace_size(
    _ shape: UnsafePointer<mnc_conv_shape>?, _ kind: Int32, _ algorithmValue: Int32,
    _ floats: UnsafeMutablePointer<Int>?
) -> mnc_status {
    call("mnc_conv_workspace_size") {
        guard (0...2).contains(kind) else {
            throw CallError.argument("kind must be 0 (standard), 1 (depthwise) or 2 (pointwise), got \(kind)")
        }
        let (layer, _, _) = try layer(
            [Kind.standard, .depthwise, .pointwise][Int(kind)], try required(shape, "shape").pointee,
            try algorithm(algorithmValue), bias: true)
        try required(floats, "floats").pointee = layer.workspaceCount
    }
}

@_cdecl("mnc_conv2d_forward")
public func mnc_conv2d_forward(
    _ shape: UnsafePointer<mnc_conv_shape>?, _ algorithm: Int32, _ x: UnsafePointer<Float>?,
    _ weight: UnsafePointer<Float>?, _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>?,
    _ workspace: UnsafeMutablePointer<Float>?, _ workspaceFloats: Int
) -> mnc_status {
    forward(.standard, "mnc_conv2d_forward", shape, algorithm, x, weight, bias, y, workspace, workspaceFloats)
}

@_cdecl("mnc_conv2d_backward")
public func mnc_conv2d_backward(
    _ shape: UnsafePointer<mnc_conv_shape>?, _ algorithm: Int32, _ x: UnsafePointer<Float>?,
    _ weight: UnsafePointer<Float>?, _ dy: UnsafePointer<Float>?, _ dx: UnsafeMutablePointer<Float>?,
    _ dweight: UnsafeMutablePointer<Float>?, _ dbias: UnsafeMutablePointer<Float>?,
    _ workspace: UnsafeMutablePointer<Float>?, _ workspaceFloats: Int
) -> mnc_status {
    backward(.standard, "mnc_conv2d_backward", shape, algorithm, x, weight, dy, dx, dweight, dbias, workspace, workspaceFloats)
}

@_cdecl("mnc_depthwise_conv2d_forward")
public func mnc_depthwise_conv2d_forward(
    _ shape: UnsafePointer<mnc_conv_shape>?, _ x: UnsafePointer<Float>?,
    _ weight: UnsafePointer<Float>?, _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>?,
    _ workspace: UnsafeMutablePointer<Float>?, _ workspaceFloats: Int
) -> mnc_status {
    forward(.depthwise, "mnc_depthwise_conv2d_forward", shape, 0, x, weight, bias, y, workspace, workspaceFloats)
}

@_cdecl("mnc_depthwise_conv2d_backward")
public func mnc_depthwise_conv2d_backward(
    _ shape: UnsafePointer<mnc_conv_shape>?, _ x: UnsafePointer<Float>?,
    _ weight: UnsafePointer<Float>?, _ dy: UnsafePointer<Float>?,
    _ dx: UnsafeMutablePointer<Float>?, _ dweight: UnsafeMutablePointer<Float>?,
    _ dbias: UnsafeMutablePointer<Float>?, _ workspace: UnsafeMutablePointer<Float>?,
    _ workspaceFloats: Int
) -> mnc_status {
    backward(.depthwise, "mnc_depthwise_conv2d_backward", shape, 0, x, weight, dy, dx, dweight, dbias, workspace, workspaceFloats)
}

@_cdecl("mnc_pointwise_conv2d_forward")
public func mnc_pointwise_conv2d_forward(
    _ shape: UnsafePointer<mnc_conv_shape>?, _ algorithm: Int32, _ x: UnsafePointer<Float>?,
    _ weight: UnsafePointer<Float>?, _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>?,
    _ workspace: UnsafeMutablePointer<Float>?, _ workspaceFloats: Int
) -> mnc_status {
    forward(.pointwise, "mnc_pointwise_conv2d_forward", shape, algorithm, x, weight, bias, y, workspace, workspaceFloats)
}

@_cdecl("mnc_pointwise_conv2d_backward")
public func mnc_pointwise_conv2d_backward(
    _ shape: UnsafePointer<mnc_conv_shape>?, _ algorithm: Int32, _ x: UnsafePointer<Float>?,
    _ weight: UnsafePointer<Float>?, _ dy: UnsafePointer<Float>?,
    _ dx: UnsafeMutablePointer<Float>?, _ dweight: UnsafeMutablePointer<Float>?,
    _ dbias: UnsafeMutablePointer<Float>?, _ workspace: UnsafeMutablePointer<Float>?,
    _ workspaceFloats: Int
) -> mnc_status {
    backward(
        .pointwise, "mnc_pointwise_conv2d_backward", shape, algorithm, x, weight, dy, dx, dweight, dbias, workspace,
        workspaceFloats)
}
