import ConvEngine
import Dispatch

/// Averages the gradients of the trainable parameters across the processes of a run: one sum over a
/// flat buffer that holds every gradient, then a scaling by 1/N, so that each process applies the
/// gradient of the global batch's mean loss. The buffer's last two values carry the step's summed
/// loss and correct count along.
final class GradientAverager {
    private let parameters: [Parameter]
    private let group: ProcessGroup
    private let buffer: UnsafeMutablePointer<Float>
    private let count: Int
    /// Seconds spent in the sums, and how many.
    private(set) var seconds = 0.0, steps = 0
    /// Bytes of one sum.
    var bytes: Int { count * MemoryLayout<Float>.size }

    init(parameters: [Parameter], group: ProcessGroup) {
        self.parameters = parameters
        self.group = group
        count = parameters.reduce(0) { $0 + $1.gradient.count } + 2
        buffer = .allocate(capacity: count)
    }

    deinit { buffer.deallocate() }

    /// Averages the gradients in place; returns the sums over processes of `loss` and `correct`.
    func average(loss: Float, correct: Int) throws -> (loss: Float, correct: Int) {
        var offset = 0
        for p in parameters {
            (buffer + offset).update(from: p.gradient.data, count: p.gradient.count)
            offset += p.gradient.count
        }
        buffer[offset] = loss
        buffer[offset + 1] = Float(correct)
        let start = DispatchTime.now().uptimeNanoseconds
        try group.sum(buffer, count: count)
        seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        steps += 1
        let scale = 1 / Float(group.processCount)
        offset = 0
        for p in parameters {
            let g = p.gradient.data, source = buffer + offset
            for i in 0..<p.gradient.count { g[i] = source[i] * scale }
            offset += p.gradient.count
        }
        return (buffer[offset], Int(buffer[offset + 1].rounded()))
    }
}
