import ConvEngine
import ConvModels

/// A named, documented set of training options (`mobilenet train --recipe NAME`): it fills every
/// option the user did not give, the user's choices win, and the checkpoint records the recipe's
/// name beside the options it produced.
///
/// The CIFAR-10 recipe trains MobileNet v1 (CIFAR stem) with the one-cycle schedule, Nesterov SGD,
/// label smoothing, weight decay on weights only, an average of the weights for evaluation, Cutout
/// and flipped evaluation; how it was chosen and what each part buys is in docs/time-to-accuracy.md.
public enum Recipe: String, CaseIterable, Sendable, CustomStringConvertible {
    /// MobileNet 0.75 for 90% test accuracy on CIFAR-10 within 45 minutes on two cores.
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
            // The peak rate scales with the batch (0.2 at 128).
            c.learningRate = c.learningRate ?? 0.2 * Float(batch) / 128
            c.momentum = c.momentum ?? 0.9
            c.nesterov = c.nesterov ?? true
            c.weightDecay = c.weightDecay ?? 5e-4
        }
        c.weightDecayScope = c.weightDecayScope ?? .weights
        c.schedule = c.schedule ?? .onecycle
        // Warm-up over the first fifth of the run, in whole epochs of CIFAR-10's 50,000 images.
        switch length {
        case .epochs(let n): c.warmupSteps = c.warmupSteps ?? n / 5 * (50_000 / max(1, batch))
        case .steps(let n): c.warmupSteps = c.warmupSteps ?? n / 5
        }
        c.labelSmoothing = c.labelSmoothing ?? 0.1
        c.augment = c.augment ?? true
        c.emaDecay = c.emaDecay ?? 0.999
        c.cutout = c.cutout ?? 8
        c.evaluateFlipped = c.evaluateFlipped ?? true
    }
}
