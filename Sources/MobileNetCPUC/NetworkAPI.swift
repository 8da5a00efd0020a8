import CMobileNetCPU
import ConvEngine
import ConvModels
import Foundation
import Training

// Networks and optimizers through the C API: a model described by `mnc_model_desc`, trained a step
// at a time on the caller's batches, saved to and loaded from the CLI's checkpoints.

extension ModelConfiguration {
    /// The configuration a C description asks for.
    init(_ d: mnc_model_desc) throws {
        guard d.family == 0 || d.family == 1 else {
            throw CallError.argument("family must be MNC_FAMILY_SEED (0) or MNC_FAMILY_MOBILENET (1), got \(d.family)")
        }
        let family: ModelFamily = d.family == 0 ? .seed : .mobilenet
        guard d.stem == 0 || d.stem == 1 else {
            throw CallError.argument("stem must be MNC_STEM_CIFAR (0) or MNC_STEM_IMAGENET (1), got \(d.stem)")
        }
        guard d.resolution >= 0 else { throw CallError.argument("resolution must not be negative, got \(d.resolution)") }
        guard d.output_stride >= 0 else {
            throw CallError.argument("output stride must not be negative, got \(d.output_stride)")
        }
        try self.init(
            family: family, widthMultiplier: d.width_multiplier, resolution: d.resolution == 0 ? nil : Int(d.resolution),
            classCount: Int(d.classes), stem: d.stem == 1 ? .imagenet : .cifar, standard: d.standard != 0,
            outputStride: d.output_stride == 0 ? nil : Int(d.output_stride))
    }

    /// The configuration as a C description.
    var description: mnc_model_desc {
        mnc_model_desc(
            family: family == .seed ? 0 : 1, width_multiplier: widthMultiplier, resolution: Int32(resolution),
            stem: stem == .cifar ? 0 : 1, classes: Int32(classCount), standard: standard ? 1 : 0,
            output_stride: Int32(outputStride ?? 0))
    }
}

@_cdecl("mnc_model_desc_default")
public func mnc_model_desc_default() -> mnc_model_desc {
    mnc_model_desc(family: 0, width_multiplier: 1, resolution: 0, stem: 0, classes: 10, standard: 0, output_stride: 0)
}

@_cdecl("mnc_network_create")
public func mnc_network_create(
    _ desc: UnsafePointer<mnc_model_desc>?, _ seed: UInt64, _ maxBatch: Int32,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> mnc_status {
    call("mnc_network_create") {
        let out = try required(out, "out")
        out.pointee = nil
        let configuration = try ModelConfiguration(try required(desc, "desc").pointee)
        let network = try configuration.makeNetwork(maxBatchSize: try checked(maxBatch, "max_batch"), seed: seed)
        out.pointee = Handles.register(NetworkHandle(configuration: configuration, network: network))
    }
}

@_cdecl("mnc_network_load")
public func mnc_network_load(_ path: UnsafePointer<CChar>?, _ maxBatch: Int32, _ out: UnsafeMutablePointer<OpaquePointer?>?)
    -> mnc_status
{
    call("mnc_network_load") {
        let out = try required(out, "out")
        out.pointee = nil
        let path = String(cString: try required(path, "path"))
        let batch = try checked(maxBatch, "max_batch")
        let file = try SafeTensors(contentsOf: URL(fileURLWithPath: path))
        let record = try CheckpointRecord(metadata: file.metadata)
        let network = try record.model.makeNetwork(maxBatchSize: batch)
        try Checkpoint.restore(file, into: network, source: path)
        out.pointee = Handles.register(NetworkHandle(configuration: record.model, network: network))
    }
}

@_cdecl("mnc_network_save")
public func mnc_network_save(_ network: OpaquePointer?, _ optimizer: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> mnc_status
{
    call("mnc_network_save") {
        let handle = try Handles.object(network, as: NetworkHandle.self, "network")
        let optimizerHandle = try optimizer.map { try Handles.object($0, as: OptimizerHandle.self, "optimizer") }
        if let optimizerHandle, optimizerHandle.network !== handle {
            throw CallError.argument("optimizer belongs to another network")
        }
        let path = String(cString: try required(path, "path"))
        handle.lock.lock()
        defer { handle.lock.unlock() }
        try Checkpoint.save(
            network: handle.network, optimizer: optimizerHandle?.optimizer,
            metadata: CheckpointRecord(model: handle.configuration).metadata, to: URL(fileURLWithPath: path))
    }
}

@_cdecl("mnc_network_free")
public func mnc_network_free(_ network: OpaquePointer?) -> mnc_status {
    call("mnc_network_free") { try Handles.release(network, as: NetworkHandle.self, "network") }
}

@_cdecl("mnc_network_describe")
public func mnc_network_describe(
    _ network: OpaquePointer?, _ desc: UnsafeMutablePointer<mnc_model_desc>?,
    _ maxBatch: UnsafeMutablePointer<Int32>?
) -> mnc_status {
    call("mnc_network_describe") {
        let handle = try Handles.object(network, as: NetworkHandle.self, "network")
        desc?.pointee = handle.configuration.description
        maxBatch?.pointee = Int32(handle.network.maxBatchSize)
    }
}

/// Copies n images from the caller into the network's input, converting NCHW when asked.
private func load(_ images: UnsafePointer<Float>, count n: Int, layout: Int32, into handle: NetworkHandle) throws {
    guard layout == 0 || layout == 1 else {
        throw CallError.argument("layout must be MNC_LAYOUT_NHWC (0) or MNC_LAYOUT_NCHW (1), got \(layout)")
    }
    let network = handle.network, side = handle.configuration.resolution
    guard n <= network.maxBatchSize else {
        throw CallError.argument("n = \(n) is more than the network's max_batch \(network.maxBatchSize)")
    }
    try network.setBatchSize(n)
    let input = network.input.data, plane = side * side
    if layout == 0 {
        input.update(from: images, count: n * plane * 3)
        return
    }
    for b in 0..<n {
        for c in 0..<3 {
            let source = images + (b * 3 + c) * plane
            for p in 0..<plane { input[(b * plane + p) * 3 + c] = source[p] }
        }
    }
}

@_cdecl("mnc_network_forward")
public func mnc_network_forward(
    _ network: OpaquePointer?, _ images: UnsafePointer<Float>?, _ n: Int32, _ layout: Int32,
    _ logits: UnsafeMutablePointer<Float>?, _ logitsCount: Int
) -> mnc_status {
    call("mnc_network_forward") {
        let handle = try Handles.object(network, as: NetworkHandle.self, "network")
        let images = try required(images, "images"), logits = try required(logits, "logits")
        let count = try checked(n, "n"), classes = handle.configuration.classCount
        guard logitsCount >= count * classes else {
            throw CallError.shape("logits_count \(logitsCount) is less than n × classes = \(count * classes)")
        }
        handle.lock.lock()
        defer { handle.lock.unlock() }
        try load(images, count: count, layout: layout, into: handle)
        handle.network.eval()
        // The handle is the only way to the weights, and a training step thaws them: forward
        // passes between steps share one packed copy.
        if !handle.network.hasFrozenWeights { handle.network.freezeWeights() }
        try handle.network.forward()
        logits.update(from: handle.network.output.data, count: count * classes)
    }
}

@_cdecl("mnc_network_train_step")
public func mnc_network_train_step(
    _ network: OpaquePointer?, _ images: UnsafePointer<Float>?, _ n: Int32, _ layout: Int32,
    _ labels: UnsafePointer<Int32>?, _ optimizer: OpaquePointer?, _ learningRate: Float,
    _ labelSmoothing: Float, _ loss: UnsafeMutablePointer<Float>?,
    _ correct: UnsafeMutablePointer<Int32>?
) -> mnc_status {
    call("mnc_network_train_step") {
        let step = try TrainingCall(network, images, n, layout, labels, optimizer, learningRate, labelSmoothing)
        step.handle.lock.lock()
        defer { step.handle.lock.unlock() }
        let result = try step.run()
        loss?.pointee = result.loss
        correct?.pointee = Int32(result.correct)
    }
}

/// The validated arguments of a training step: what mnc_network_train_step and
/// mnc_network_train_steps check before they touch the network.
struct TrainingCall {
    let handle: NetworkHandle
    let optimizer: OptimizerHandle
    let images: UnsafePointer<Float>
    let labels: UnsafeBufferPointer<Int32>
    let layout: Int32
    let learningRate: Float
    let loss: SoftmaxCrossEntropy

    init(
        _ network: OpaquePointer?, _ images: UnsafePointer<Float>?, _ n: Int32, _ layout: Int32,
        _ labels: UnsafePointer<Int32>?, _ optimizer: OpaquePointer?, _ learningRate: Float, _ labelSmoothing: Float
    ) throws {
        handle = try Handles.object(network, as: NetworkHandle.self, "network")
        self.optimizer = try Handles.object(optimizer, as: OptimizerHandle.self, "optimizer")
        guard self.optimizer.network === handle else { throw CallError.argument("optimizer belongs to another network") }
        self.images = try required(images, "images")
        self.labels = UnsafeBufferPointer(start: try required(labels, "labels"), count: try checked(n, "n"))
        guard learningRate.isFinite && learningRate > 0 else {
            throw CallError.argument("learning_rate must be a positive number, got \(learningRate)")
        }
        self.layout = layout
        self.learningRate = learningRate
        loss = try SoftmaxCrossEntropy(labelSmoothing: labelSmoothing)
    }

    /// One step: the images into the network's input, then its training step. The caller holds the lock.
    func run() throws -> SoftmaxCrossEntropy.Result {
        try load(images, count: labels.count, layout: layout, into: handle)
        return try handle.network.trainStep(
            labels: labels, loss: loss, optimizer: optimizer.optimizer, learningRate: learningRate)
    }
}

@_cdecl("mnc_optimizer_create_sgd")
public func mnc_optimizer_create_sgd(
    _ network: OpaquePointer?, _ momentum: Float, _ nesterov: Int32, _ weightDecay: Float,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> mnc_status {
    call("mnc_optimizer_create_sgd") {
        let out = try required(out, "out")
        out.pointee = nil
        let handle = try Handles.object(network, as: NetworkHandle.self, "network")
        guard weightDecay.isFinite && weightDecay >= 0 else {
            throw CallError.argument("weight_decay must not be negative, got \(weightDecay)")
        }
        let optimizer = try SGD(
            parameters: handle.network.trainableParameters, momentum: momentum, nesterov: nesterov != 0,
            weightDecay: weightDecay > 0 ? .l2(weightDecay) : .none)
        out.pointee = Handles.register(OptimizerHandle(optimizer: optimizer, network: handle))
    }
}

@_cdecl("mnc_optimizer_create_adam")
public func mnc_optimizer_create_adam(
    _ network: OpaquePointer?, _ weightDecay: Float, _ decoupled: Int32,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> mnc_status {
    call("mnc_optimizer_create_adam") {
        let out = try required(out, "out")
        out.pointee = nil
        let handle = try Handles.object(network, as: NetworkHandle.self, "network")
        guard weightDecay.isFinite && weightDecay >= 0 else {
            throw CallError.argument("weight_decay must not be negative, got \(weightDecay)")
        }
        let parameters = handle.network.trainableParameters
        let optimizer: Optimizer =
            decoupled != 0
            ? try Adam.adamW(parameters: parameters, weightDecay: weightDecay)
            : try Adam(parameters: parameters, weightDecay: weightDecay > 0 ? .l2(weightDecay) : .none)
        out.pointee = Handles.register(OptimizerHandle(optimizer: optimizer, network: handle))
    }
}

@_cdecl("mnc_optimizer_free")
public func mnc_optimizer_free(_ optimizer: OpaquePointer?) -> mnc_status {
    call("mnc_optimizer_free") { try Handles.release(optimizer, as: OptimizerHandle.self, "optimizer") }
}

@_cdecl("mnc_optimizer_steps")
public func mnc_optimizer_steps(_ optimizer: OpaquePointer?, _ steps: UnsafeMutablePointer<Int64>?) -> mnc_status {
    call("mnc_optimizer_steps") {
        let handle = try Handles.object(optimizer, as: OptimizerHandle.self, "optimizer")
        try required(steps, "steps").pointee = Int64(handle.optimizer.stepCount)
    }
}
