import ConvEngine
import Foundation
import Testing

@Suite struct SequentialTests {
    /// The fixture's separable stack as a network (nn.Sequential indices as names).
    static func stack(batch: Int = 4) throws -> Sequential {
        try Sequential(
            [
                .init("0", Conv2D(inputChannels: 3, outputChannels: 8, kernelSize: 3, padding: 1, bias: false)),
                .init("1", BatchNorm(channels: 8)), .init("2", ReLU()),
                .init("3", DepthwiseConv2D(channels: 8, stride: 1)), .init("4", BatchNorm(channels: 8)), .init("5", ReLU()),
                .init("6", PointwiseConv2D(inputChannels: 8, outputChannels: 16)), .init("7", BatchNorm(channels: 16)),
                .init("8", ReLU()),
                .init("9", DepthwiseConv2D(channels: 16, stride: 2)), .init("10", BatchNorm(channels: 16)), .init("11", ReLU()),
                .init("12", PointwiseConv2D(inputChannels: 16, outputChannels: 24)), .init("13", BatchNorm(channels: 24)),
                .init("14", ReLU()),
                .init("15", GlobalAvgPool()), .init("16", Flatten()), .init("17", Linear(inputFeatures: 24, outputFeatures: 10)),
            ], itemShape: try Shape([8, 8, 3]), maxBatchSize: batch)
    }

    @Test func inPlaceMemoryPlanStillMatchesPyTorch() throws {
        let network = try Self.stack()
        let f = try Fixtures.load("separable_stack")
        for (name, p) in network.namedParameters where p.isTrainable { try f.load("param." + name, into: p) }
        try network.input.copy(from: try f.nhwc("x"))
        network.train()
        try network.forward()
        #expect(relativeError(Array(network.output.buffer), try f.floats("logits").values) <= 1e-4)
        let labels = try f.int64s("labels").values.map { Int32($0) }
        let loss = try labels.withUnsafeBufferPointer {
            try SoftmaxCrossEntropy().evaluate(logits: network.output, labels: $0, gradient: network.outputGradient)
        }
        #expect(relativeError([loss.loss], try f.floats("loss").values) <= 1e-5)
        network.zeroGradients()
        try network.backward()
        checkStackParameters(network.namedParameters, against: f)
        // ReLU and Flatten ran in place: fewer regions than activations.
        let distinct = Set((0...network.entries.count).map { network.activation($0).data })
        #expect(distinct.count < network.entries.count + 1)
    }

    /// A batch norm followed by a ReLU (or ReLU6) in a network applies the rectifier itself; outputs
    /// and gradients equal those of the layers run one after the other, in training and in
    /// evaluation, on an input large enough to be split over threads. A leading 1×1 depthwise layer of
    /// ones passes x through, and its weight gradient Σ x·dx per channel checks the input gradient.
    @Test(arguments: [false, true], [true, false])
    func batchNormFusesTheFollowingRectifier(capped: Bool, training: Bool) throws {
        let shape = [2, 16, 16, 64]
        func layers() throws -> (DepthwiseConv2D, BatchNorm, ReLU) {
            let pass = try DepthwiseConv2D(channels: 64, kernelSize: 1, padding: 0)
            pass.weight.value.data.update(repeating: 1, count: 64)
            let bn = try BatchNorm(channels: 64)
            for c in 0..<64 {
                bn.weight.value.data[c] = Float(c % 5) * 1.5 - 2
                bn.bias.value.data[c] = Float(c % 3) - 1
                bn.runningMean.value.data[c] = Float(c % 4) * 0.1
            }
            return (pass, bn, capped ? ReLU6() : ReLU())
        }
        // Scaled so that ReLU6's cap is reached as well as zero.
        let x = Tensor.random(shape, seed: 41, scale: 8), dy = Tensor.random(shape, seed: 42)

        let (pass, bn, relu) = try layers()
        let network = try Sequential(
            [.init("0", pass), .init("1", bn), .init("2", relu)],
            itemShape: try Shape(Array(shape.dropFirst())), maxBatchSize: 2)
        #expect(bn.fusedRectifier === relu)
        training ? network.train() : network.eval()
        try network.input.copy(from: x)
        try network.forward()
        try network.outputGradient.copy(from: dy)
        network.zeroGradients()
        try network.backward()

        let (pass2, bn2, relu2) = try layers()
        let context = ExecutionContext(isTraining: training)
        #expect(try pass2.forward(x, context: context).scalars == x.scalars)
        let z = try bn2.forward(x, context: context), y = try relu2.forward(z, context: context)
        let dz = try relu2.backward(dy, input: z, output: y, context: context)
        let dx = try bn2.backward(dz, input: x, output: z, context: context)
        _ = try pass2.backward(dx, input: x, output: x, context: context)
        #expect(bn2.fusedRectifier == nil)
        #expect(Array(network.output.buffer) == y.scalars)
        #expect(y.scalars.contains(0) && (!capped || y.scalars.contains(6)))
        for (fused, plain) in [(pass.weight, pass2.weight), (bn.weight, bn2.weight), (bn.bias, bn2.bias)] {
            #expect(relativeError(Array(fused.gradient.buffer), Array(plain.gradient.buffer)) <= 1e-6)
        }
    }

    /// In evaluation a batch norm after a convolution is folded into it (the RGB stem's direct
    /// kernel, the depthwise kernel, a pointwise layer over 32 channels on the direct kernels, one over
    /// 16 on the GEMM path, a 3×3 one by im2row + GEMM): the output is the same bits as the layers run one after the other,
    /// the batch norms' inputs are not written (they keep the NaNs put there), and a backward pass
    /// computes them first and gives the gradients of the unfolded layers. A layer that applies its
    /// own rectifier is not folded.
    @Test(arguments: [1, 2], [false, true])
    func evaluationFoldsBatchNormIntoTheConvolutionBefore(stride: Int, capped: Bool) throws {
        let shape = [3, 12, 12, 3]
        func layers() throws -> [Layer] {
            let stem = try Conv2D(inputChannels: 3, outputChannels: 32, kernelSize: 3, padding: 1, bias: false)
            let dw = try DepthwiseConv2D(channels: 32, stride: stride)
            let pw = try PointwiseConv2D(inputChannels: 32, outputChannels: 16, algorithm: .direct)
            let pw2 = try PointwiseConv2D(inputChannels: 16, outputChannels: 24)
            let conv = try Conv2D(inputChannels: 24, outputChannels: 8, kernelSize: 3, padding: 1, algorithm: .im2col)
            let norms = try [32, 32, 16, 24, 8].map { try BatchNorm(channels: $0) }
            let convolutions: [Layer] = [stem, dw, pw, pw2, conv]
            let parameters = convolutions.flatMap(\.parameters) + norms.flatMap(\.parameters)
            for (i, p) in parameters.enumerated() {
                randomize(p, seed: 70 + UInt64(i), scale: 2)
            }
            for norm in norms {
                for c in 0..<norm.channels { norm.runningVariance.value.data[c] = abs(norm.runningVariance.value.data[c]) + 0.5 }
            }
            return [
                stem, norms[0], ReLU(), dw, norms[1], capped ? ReLU6() : ReLU(), pw, norms[2], ReLU(), pw2, norms[3], ReLU(),
                conv, norms[4], ReLU(),
            ]
        }
        let x = Tensor.random(shape, seed: 45, scale: 4)
        let fused = try layers()
        let network = try Sequential(
            fused.enumerated().map { .init("\($0.offset)", $0.element) },
            itemShape: try Shape(Array(shape.dropFirst())), maxBatchSize: shape[0])
        #expect((fused[0] as? Conv2D)?.path == .direct && (fused[6] as? PointwiseConv2D)?.path == .direct)
        #expect((fused[9] as? PointwiseConv2D)?.path == .gemm && (fused[12] as? Conv2D)?.path == .im2col)
        network.eval()
        try network.input.copy(from: x)
        let normInputs = [1, 4, 7, 10, 13], unwritten = normInputs.map { network.activation($0) }
        for view in unwritten { view.data.update(repeating: .nan, count: view.count) }
        try network.forward()

        let plain = try layers(), context = ExecutionContext(isTraining: false)
        var activations = [x]
        for layer in plain { activations.append(try layer.forward(activations.last!, context: context)) }
        #expect(Array(network.output.buffer) == activations.last!.scalars)
        for view in unwritten { #expect(Array(view.buffer).allSatisfy { $0.isNaN }) }

        let dy = Tensor.random(network.output.shape.dimensions, seed: 46)
        try network.outputGradient.copy(from: dy)
        network.zeroGradients()
        try network.backward()
        for (view, i) in zip(unwritten, normInputs) { #expect(Array(view.buffer) == activations[i].scalars) }
        var gradient = dy
        for (i, layer) in plain.enumerated().reversed() {
            gradient = try layer.backward(gradient, input: activations[i], output: activations[i + 1], context: context)
        }
        for (folded, unfolded) in zip(fused.flatMap(\.parameters), plain.flatMap(\.parameters)) where folded.isTrainable {
            #expect(relativeError(Array(folded.gradient.buffer), Array(unfolded.gradient.buffer)) <= 1e-6, "\(folded.name)")
        }

        // A rectifier between the two keeps them apart: the batch norm then runs and writes its input.
        let apart = try Sequential(
            [
                .init("0", try DepthwiseConv2D(channels: 3, stride: stride)), .init("1", ReLU()),
                .init("2", try BatchNorm(channels: 3)),
            ],
            itemShape: try Shape(Array(shape.dropFirst())), maxBatchSize: shape[0])
        apart.eval()
        try apart.input.copy(from: x)
        apart.activation(1).data.update(repeating: .nan, count: apart.activation(1).count)
        try apart.forward()
        #expect(!Array(apart.activation(1).buffer).contains { $0.isNaN })
    }

    /// In training a batch norm after a depthwise convolution hands its input gradient to the
    /// convolution's backward instead of writing it: every gradient (the batch norms', the
    /// convolutions', and through the first layers the depthwise input gradient) is the same bits
    /// as the layers' own backward passes one after the other, with each rectifier absorbed alike.
    /// The second shape, one image, runs the stride-1 depthwise backward in slices of rows.
    @Test(arguments: [1, 2], [false, true])
    func trainingBackwardComputesTheBatchNormGradientInsideTheDepthwiseLayer(stride: Int, capped: Bool) throws {
        for shape in [[4, 11, 10, 8], [1, 56, 48, 8]] {
            try checkBatchNormGradientInsideTheDepthwiseLayer(shape: shape, stride: stride, capped: capped)
        }
    }

    private func checkBatchNormGradientInsideTheDepthwiseLayer(shape: [Int], stride: Int, capped: Bool) throws {
        // The layers to run, each rectifier absorbed by the batch norm before it as Sequential does.
        func layers() throws -> [Layer] {
            let pw0 = try PointwiseConv2D(inputChannels: 8, outputChannels: 24), bn0 = try BatchNorm(channels: 24)
            let dw = try DepthwiseConv2D(channels: 24, stride: stride), bn = try BatchNorm(channels: 24)
            let pw = try PointwiseConv2D(inputChannels: 24, outputChannels: 16), bn2 = try BatchNorm(channels: 16)
            let all: [Layer] = [pw0, bn0, dw, bn, pw, bn2]
            for (i, p) in all.flatMap(\.parameters).enumerated() where p.isTrainable {
                randomize(p, seed: 90 + UInt64(i), scale: 2)
            }
            for (norm, rectifier) in [(bn0, ReLU() as Layer), (bn, capped ? ReLU6() : ReLU()), (bn2, ReLU())] {
                #expect(norm.absorb(rectifier))
            }
            return all
        }
        let x = Tensor.random(shape, seed: 47, scale: 3)
        let side = { stride == 1 ? $0 : ($0 + 1) / 2 }
        let dy = Tensor.random([shape[0], side(shape[1]), side(shape[2]), 16], seed: 48)

        let fused = try layers()
        let network = try Sequential(
            fused.enumerated().map { .init("\($0.offset)", $0.element) },
            itemShape: try Shape(Array(shape.dropFirst())), maxBatchSize: shape[0])
        try network.input.copy(from: x)
        try network.forward()
        try network.outputGradient.copy(from: dy)
        network.zeroGradients()
        try network.backward()

        let plain = try layers(), context = ExecutionContext(isTraining: true)
        var activations = [x]
        for layer in plain { activations.append(try layer.forward(activations.last!, context: context)) }
        #expect(Array(network.output.buffer) == activations.last!.scalars)
        var gradient = dy
        for (i, layer) in plain.enumerated().reversed() {
            gradient = try layer.backward(gradient, input: activations[i], output: activations[i + 1], context: context)
        }
        for (a, b) in zip(fused.flatMap(\.parameters), plain.flatMap(\.parameters)) where a.isTrainable {
            #expect(Array(a.gradient.buffer) == Array(b.gradient.buffer), "\(a.name)")
            #expect(Array(a.gradient.buffer).contains { $0 != 0 }, "\(a.name)")
        }
    }

    /// With the weights frozen, evaluation passes read the pointwise layers' packed copy: the same
    /// bits as an unfrozen pass, on one thread or two. `train()` ends the freeze, so that weights changed by
    /// training reach the next evaluation; so does the end of its body (unless the weights were
    /// frozen before it). A checkpoint restored inside a freeze is packed again.
    @Test func frozenWeightsAreTheWeightsWhenTheFreezeBegan() throws {
        let network = try Self.stack(batch: 3)
        for (i, (_, p)) in network.namedParameters.enumerated() { randomize(p, seed: 90 + UInt64(i)) }
        for case let norm as BatchNorm in network.entries.map(\.layer) {
            for c in 0..<norm.channels { norm.runningVariance.value.data[c] = abs(norm.runningVariance.value.data[c]) + 0.5 }
        }
        let x = Tensor.random([3, 8, 8, 3], seed: 91)
        func evaluate() throws -> [Float] {
            network.eval()
            try network.input.copy(from: x)
            try network.forward()
            return Array(network.output.buffer)
        }
        let unfrozen = try evaluate()
        for threads in [1, 2] {
            let frozen = try Parallel.withThreadCount(threads) { try network.withFrozenWeights { try evaluate() } }
            #expect(differingElements(frozen, unfrozen) == 0, "\(threads) threads")
        }
        #expect(!network.hasFrozenWeights)

        let pointwise = try #require(network.entries[12].layer as? PointwiseConv2D)
        let saved = try Checkpoint.make(network: network, optimizer: nil)
        let changed = Array(pointwise.weight.value.buffer).map { -$0 }
        try network.withFrozenWeights {
            #expect(network.hasFrozenWeights)
            #expect(differingElements(try evaluate(), unfrozen) == 0)
            network.train()
            #expect(!network.hasFrozenWeights)
            try pointwise.weight.assign(changed)
            let updated = try evaluate()
            #expect(differingElements(updated, unfrozen) > 0)
            try network.withFrozenWeights {
                #expect(differingElements(try evaluate(), updated) == 0)
                try Checkpoint.restore(saved, into: network)
                #expect(differingElements(try evaluate(), unfrozen) == 0)
            }
        }
        #expect(!network.hasFrozenWeights)
        // Frozen without a scope: a scope inside keeps the freeze, which lasts until thawed.
        network.freezeWeights()
        let inner = try network.withFrozenWeights { try evaluate() }
        #expect(differingElements(inner, unfrozen) == 0 && network.hasFrozenWeights)
        network.thawWeights()
        #expect(!network.hasFrozenWeights)
    }

    @Test func smallerBatchesReuseTheBuffers() throws {
        let network = try Self.stack(batch: 8)
        let before = network.activation(3).data
        try network.setBatchSize(3)
        #expect(network.activation(3).data == before)
        #expect(network.output.shape.dimensions == [3, 10])
        #expect(throws: EngineError.self) { try network.setBatchSize(9) }
        #expect(throws: EngineError.self) { try network.setBatchSize(0) }
    }

    @Test func rejectsLayersThatDoNotFit() throws {
        #expect(throws: EngineError.self) {
            try Sequential(
                [
                    .init("0", Conv2D(inputChannels: 3, outputChannels: 8, kernelSize: 3)),
                    .init("1", PointwiseConv2D(inputChannels: 16, outputChannels: 4)),
                ],
                itemShape: try Shape([8, 8, 3]), maxBatchSize: 2)
        }
        #expect(throws: EngineError.self) { try Sequential([], itemShape: try Shape([8, 8, 3]), maxBatchSize: 2) }
    }

    @Test func predictChecksTheItemShape() throws {
        let network = try Self.stack()
        #expect(throws: EngineError.self) { try network.predict(Tensor(shape: .nhwc(2, 8, 8, 4))) }
        #expect(try network.predict(Tensor(shape: .nhwc(2, 8, 8, 3))).shape.dimensions == [2, 10])
    }
}
