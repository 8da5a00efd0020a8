/// One optimisation step and one evaluation pass over the batch in `Sequential.input`.
extension Sequential {
    /// Forward in training mode, the loss, backward in reverse order, then the optimizer's update.
    /// Allocates nothing.
    ///
    /// - Parameters:
    ///   - labels: one class index per item of the current batch.
    ///   - loss: the loss to minimise.
    ///   - optimizer: updates the trainable parameters.
    ///   - learningRate: the rate for this step.
    ///   - beforeUpdate: runs between the backward pass and the update with the step's result, the
    ///     gradients in place (a data-parallel run averages them across processes there). Not
    ///     escaping, so what it captures is not boxed: the step still allocates nothing.
    /// - Returns: the batch's mean loss and how many items were classified correctly.
    public func trainStep(
        labels: UnsafeBufferPointer<Int32>, loss: SoftmaxCrossEntropy, optimizer: Optimizer,
        learningRate: Float, beforeUpdate: (SoftmaxCrossEntropy.Result) throws -> Void = { _ in }
    ) throws -> SoftmaxCrossEntropy.Result {
        train()
        try forward()
        let result = try loss.evaluate(logits: output, labels: labels, gradient: outputGradient)
        guard result.loss.isFinite else {
            throw EngineError.invalidArgument(
                "the loss became \(result.loss) at step \(optimizer.stepCount); lower the learning rate")
        }
        optimizer.zeroGradients()
        try backward()
        try beforeUpdate(result)
        optimizer.step(learningRate: learningRate)
        return result
    }

    /// Forward in evaluation mode and the loss, without gradients.
    public func evaluate(labels: UnsafeBufferPointer<Int32>, loss: SoftmaxCrossEntropy) throws -> SoftmaxCrossEntropy.Result {
        eval()
        try forward()
        return try loss.evaluate(logits: output, labels: labels, gradient: nil)
    }

    /// The logits of `batch` (NHWC, any batch size ≤ `maxBatchSize`) in evaluation mode.
    ///
    /// A convenience that allocates the returned tensor; the training step does not use it.
    public func predict(_ batch: Tensor) throws -> Tensor {
        guard Array(batch.shape.dimensions.dropFirst()) == itemShape.dimensions else {
            throw EngineError.shapeMismatch("network expects items of shape \(itemShape), got batch \(batch.shape)")
        }
        try setBatchSize(batch.shape.batch)
        try input.copy(from: batch)
        eval()
        try forward()
        return output.toTensor()
    }
}
