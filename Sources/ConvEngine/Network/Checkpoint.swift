import Foundation

/// Checkpoints in safetensors with PyTorch's names and layouts, plus what a resumed run needs.
///
/// Contents:
/// - every parameter and buffer under its `nn.Sequential` name ("0.weight", "1.running_mean", …) in
///   PyTorch's layout (OIHW convolution weights, `[out, in]` linear weights), float32;
/// - `<layer>.num_batches_tracked` as int64 scalars, as PyTorch stores them;
/// - optimizer state as `optimizer.<parameter>.<slot>` (`momentum_buffer`, `exp_avg`, `exp_avg_sq`), in
///   the parameter's PyTorch layout;
/// - with an exponential moving average of the weights, each average as `ema.<parameter>` (PyTorch
///   layout), its decay and update count in the metadata; loading weights only takes the averages,
///   the weights that a run with an average evaluated;
/// - metadata: `format` = `pt`, the optimizer's kind and step, the network generator's state, and
///   whatever the caller adds (model configuration, epoch, data order).
public enum Checkpoint {
    /// The name prefix of optimizer state tensors.
    public static let optimizerPrefix = "optimizer."

    /// Collects the network (and optimizer) state into a safetensors file in memory.
    public static func make(
        network: Sequential, optimizer: Optimizer?, average: ExponentialMovingAverage? = nil,
        metadata: [String: String] = [:]
    ) throws -> SafeTensors {
        var file = SafeTensors()
        for (name, p) in network.namedParameters {
            try file.setFloats(
                name, shape: p.layout.pytorchShape(for: p.shape),
                p.layout.toPyTorch(Array(p.value.buffer), shape: p.shape))
            if let a = average?.average(of: p) {
                try file.setFloats(
                    ExponentialMovingAverage.checkpointPrefix + name, shape: p.layout.pytorchShape(for: p.shape),
                    p.layout.toPyTorch(Array(a.buffer), shape: p.shape))
            }
        }
        for entry in network.entries {
            for (counter, value) in entry.layer.counters {
                try file.setInt64s("\(entry.name).\(counter)", shape: [], [Int64(value)])
            }
        }
        var meta = metadata
        meta["format"] = "pt"
        meta["generator.state"] = network.context.generator.stateWords.map(String.init).joined(separator: ",")
        if let average {
            meta["ema.decay"] = "\(average.decay)"
            meta["ema.updates"] = String(average.updateCount)
        }
        if let optimizer {
            meta["optimizer.kind"] = optimizer.kind
            meta["optimizer.step"] = String(optimizer.stepCount)
            for (index, p) in optimizer.parameters.enumerated() {
                guard let name = network.namedParameters.first(where: { $0.parameter === p })?.name else { continue }
                for (slot, storage) in optimizer.state(of: index) {
                    try file.setFloats(
                        "\(optimizerPrefix)\(name).\(slot)", shape: p.layout.pytorchShape(for: p.shape),
                        p.layout.toPyTorch(Array(storage.buffer), shape: p.shape))
                }
            }
        }
        file.metadata = meta
        return file
    }

    /// Writes a checkpoint atomically (temporary file, flush, rename).
    public static func save(
        network: Sequential, optimizer: Optimizer?, average: ExponentialMovingAverage? = nil,
        metadata: [String: String] = [:], to url: URL
    ) throws {
        try make(network: network, optimizer: optimizer, average: average, metadata: metadata).write(to: url)
    }

    /// Loads `file` into `network` (and `optimizer`, when given), checking everything first: the
    /// network and optimizer are left unchanged when anything is missing, misshapen or unexpected.
    ///
    /// - Parameters:
    ///   - file: a checkpoint read with `SafeTensors(contentsOf:)`.
    ///   - network: the network to fill; its names and shapes must match exactly.
    ///   - optimizer: the optimizer to restore; nil to load weights only (optimizer tensors are then
    ///     ignored, and the weight averages, when the file has them, are loaded as the weights).
    ///   - average: the weight average to restore with the optimizer (the file must hold one).
    ///   - source: names the checkpoint in errors.
    /// - Throws: `EngineError.corruptData` naming the tensor or key at fault.
    public static func restore(
        _ file: SafeTensors, into network: Sequential, optimizer: Optimizer? = nil,
        average: ExponentialMovingAverage? = nil, source: String = "checkpoint"
    ) throws {
        func corrupt(_ why: String) -> EngineError { .corruptData("\(source): \(why)") }
        var assignments: [(Parameter, FloatStorage?, [Float])] = []
        var counters: [(Layer, String, Int)] = []
        var expected = Set<String>()

        func values(_ name: String, for p: Parameter) throws -> [Float] {
            expected.insert(name)
            guard let entry = file.entries[name] else { throw corrupt("missing tensor \"\(name)\"") }
            let shape = p.layout.pytorchShape(for: p.shape)
            guard entry.dtype == .f32 else { throw corrupt("tensor \"\(name)\" is \(entry.dtype.rawValue), expected F32") }
            guard entry.shape == shape else {
                throw corrupt("tensor \"\(name)\" has shape \(entry.shape), the network needs \(shape)")
            }
            let raw = try file.floats(name).values
            guard raw.allSatisfy(\.isFinite) else { throw corrupt("tensor \"\(name)\" holds NaN or infinite values") }
            return p.layout.fromPyTorch(raw, shape: p.shape)
        }

        let ema = ExponentialMovingAverage.checkpointPrefix
        let weightsOnly = optimizer == nil && average == nil
        let takesAverages = weightsOnly && network.namedParameters.contains { file.entries[ema + $0.name] != nil }
        for (name, p) in network.namedParameters {
            if takesAverages {
                expected.insert(name)
                assignments.append((p, nil, try values(ema + name, for: p)))
            } else {
                assignments.append((p, nil, try values(name, for: p)))
            }
            if let a = average?.average(of: p) { assignments.append((p, a, try values(ema + name, for: p))) }
        }
        var averageUpdates: Int?
        if average != nil {
            guard let count = file.metadata["ema.updates"].flatMap(Int.init), count >= 0, count <= 1 << 53 else {
                throw corrupt("metadata ema.updates is missing or not a count of updates")
            }
            averageUpdates = count
        }
        for entry in network.entries {
            for counter in entry.layer.counters.keys {
                let name = "\(entry.name).\(counter)"
                expected.insert(name)
                guard let e = file.entries[name] else { throw corrupt("missing tensor \"\(name)\"") }
                guard e.dtype == .i64, e.count == 1, let value = try file.int64s(name).values.first, value >= 0 else {
                    throw corrupt("tensor \"\(name)\" must be one non-negative int64")
                }
                counters.append((entry.layer, counter, Int(value)))
            }
        }
        var stepCount: Int?
        if let optimizer {
            guard let kind = file.metadata["optimizer.kind"] else { throw corrupt("holds no optimizer state to resume from") }
            guard kind == optimizer.kind else { throw corrupt("optimizer state is for \(kind), not \(optimizer.kind)") }
            // Counts beyond 2^53 are not steps anyone took, and would overflow as the run goes on.
            guard let step = file.metadata["optimizer.step"].flatMap(Int.init), step >= 0, step <= 1 << 53 else {
                throw corrupt("metadata optimizer.step is missing or not a count of steps")
            }
            stepCount = step
            for (index, p) in optimizer.parameters.enumerated() {
                guard let name = network.namedParameters.first(where: { $0.parameter === p })?.name else { continue }
                for (slot, storage) in optimizer.state(of: index) {
                    assignments.append((p, storage, try values("\(optimizerPrefix)\(name).\(slot)", for: p)))
                }
            }
        }
        let unexpected = file.entries.keys.filter {
            !expected.contains($0) && (optimizer != nil || !$0.hasPrefix(optimizerPrefix))
        }
        if let name = unexpected.sorted().first {
            throw corrupt("unexpected tensor \"\(name)\" (\(unexpected.count) tensor(s) the network does not have)")
        }
        var generator: RandomGenerator?
        if let words = file.metadata["generator.state"] {
            let parsed = words.split(separator: ",").compactMap { UInt64($0) }
            do { generator = try RandomGenerator(state: parsed) } catch { throw corrupt("metadata generator.state is malformed") }
        }

        // Everything checked: now change the network.
        for (p, storage, v) in assignments {
            v.withUnsafeBufferPointer { (storage ?? p.value).data.update(from: $0.baseAddress!, count: v.count) }
        }
        for (layer, name, value) in counters { try layer.setCounter(name, to: value) }
        if let optimizer, let stepCount { optimizer.stepCount = stepCount }
        if let average, let averageUpdates { average.updateCount = averageUpdates }
        if let generator { network.context.generator = generator }
        if network.hasFrozenWeights { network.freezeWeights() }
    }
}
