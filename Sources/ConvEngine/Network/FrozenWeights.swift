/// Frozen weights: the layers that pack their weights for the GEMM on every pass (pointwise
/// convolutions, `WeightFreezing`) pack them once, and evaluation passes read that copy, as an
/// inference runtime does with a model it has loaded. It pays most for small batches, where the copy
/// costs as much as a quarter of a layer's product.
///
/// The copy is of the weights when the freeze begins, so while frozen the parameters must not
/// change through `Parameter.assign` or `Parameter.value`. The engine's own changes keep it true:
/// `train()` (so `trainStep`) ends a freeze at once, and `Checkpoint.restore` packs again. Frozen or
/// not, an evaluation pass gives the same bits: unfrozen, it packs the weights itself.
extension Sequential {
    /// Packs the weights for the evaluation passes that follow, until `thawWeights()` or `train()`;
    /// when they are frozen already, packs them again (after a change to them).
    public func freezeWeights() {
        for i in entries.indices { (entries[i].layer as? WeightFreezing)?.freezeWeights() }
        weightsFrozen = true
    }

    /// Ends the freeze: evaluation passes pack the weights themselves again. The layers keep their
    /// packed buffers (about the size of their weights) for the next freeze, so that freezing after
    /// every training step (the C API's forward does) allocates nothing.
    public func thawWeights() {
        guard weightsFrozen else { return }
        for i in entries.indices { (entries[i].layer as? WeightFreezing)?.thawWeights() }
        weightsFrozen = false
    }

    /// Whether evaluation passes read weights packed by `freezeWeights()`.
    public var hasFrozenWeights: Bool { weightsFrozen }

    /// Runs `body` with the weights frozen, and thaws them after it unless they were frozen before.
    ///
    /// - Parameter body: the evaluation passes to run.
    /// - Returns: what `body` returns.
    public func withFrozenWeights<R>(_ body: () throws -> R) rethrows -> R {
        if weightsFrozen { return try body() }
        freezeWeights()
        defer { thawWeights() }
        return try body()
    }
}
