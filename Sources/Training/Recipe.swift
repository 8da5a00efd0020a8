import ConvEngine
import ConvModels

/// A named, documented set of training options (`mobilenet train --recipe NAME`): it fills every
/// option the user did not give, the user's choices win, and the checkpoint records the recipe's
/// name beside the options it produced.
///
/// The CIFAR-10 recipe trains MobileNet v1 (CIFAR stem) with the one-cycle schedule and SGD with
/// momentum, and evaluates with flipped images; how it was chosen, and what the parts that were tried
/// and left out (Nesterov momentum, label smoothing, Cutout, a weight average, decay on weights only,
/// no decay on the depthwise filters) cost, is in docs/time-to-accuracy.md.
public enum Recipe: String, CaseIterable, Sendable, CustomStringConvertible {
    /// MobileNet 0.75 for the best CIFAR-10 test accuracy in 45 minutes on two cores (the 90% it is
    /// after is not reached yet: docs/time-to-accuracy.md).
    case cifar10Fast = "cifar10-fast"

    public var description: String { rawValue }

    /// The recipe's epochs.
    public var epochs: Int {
        switch self {
        case .cifar10Fast: return 24
        }
    }

    /// Fills each choice not made with the recipe's value.
    public func fillDefaults(of c: inout TrainingOptions.Choices) {
        let batch = c.batchSize ?? 128
        let length = c.length ?? .epochs(epochs)
        c.family = c.family ?? .mobilenet
        c.widthMultiplier = c.widthMultiplier ?? 0.75
        c.stem = c.stem ?? .cifar
        c.length = length
        c.batchSize = batch
        c.optimizer = c.optimizer ?? .sgd
        if c.optimizer == .sgd {
            // The peak rate scales with the batch (0.1 at 128: 0.2 and 0.05 ended lower,
            // docs/time-to-accuracy.md).
            c.learningRate = c.learningRate ?? 0.1 * Float(batch) / 128
            c.momentum = c.momentum ?? 0.9
            c.weightDecay = c.weightDecay ?? 5e-4
        }
        c.schedule = c.schedule ?? .onecycle
        // Warm-up over the first fifth of the run, in whole epochs of CIFAR-10's 50,000 images. A length
        // whose warm-up overflows gets none here: its step count overflows too, which the run refuses
        // with an error naming --epochs.
        switch length {
        case .epochs(let n):
            let (steps, overflow) = (n / 5).multipliedReportingOverflow(by: 50_000 / max(1, batch))
            c.warmupSteps = c.warmupSteps ?? (overflow ? nil : steps)
        case .steps(let n): c.warmupSteps = c.warmupSteps ?? n / 5
        }
        c.augment = c.augment ?? true
        c.evaluateFlipped = c.evaluateFlipped ?? true
        // Nesterov momentum, label smoothing, Cutout, a weight average and sparing biases and batch norm,
        // or the depthwise filters, from decay each cost accuracy in runs this short
        // (docs/time-to-accuracy.md): left out.
    }
}
