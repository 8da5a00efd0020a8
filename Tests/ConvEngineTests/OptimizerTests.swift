import ConvEngine
import Testing

@Suite struct OptimizerTests {
    /// Runs four steps on the fixture's two parameters with its gradients and compares each step.
    @Test(arguments: ["sgd_momentum", "sgd_nesterov", "sgd_plain", "adam", "adamw"])
    func matchesPyTorch(_ name: String) throws {
        let f = try Fixtures.load("optimizer_" + name)
        let p0 = try Parameter(name: "p0", shape: try Shape([3, 4])), p1 = try Parameter(name: "p1", shape: try Shape([5]))
        try p0.assign(try f.floats("initial.p0").values)
        try p1.assign(try f.floats("initial.p1").values)
        let optimizer: Optimizer, lr: Float
        switch name {
        case "sgd_momentum": (optimizer, lr) = (try SGD(parameters: [p0, p1], momentum: 0.9, weightDecay: .l2(5e-4)), 0.1)
        case "sgd_nesterov":
            (optimizer, lr) = (try SGD(parameters: [p0, p1], momentum: 0.8, nesterov: true, weightDecay: .l2(1e-3)), 0.05)
        case "sgd_plain": (optimizer, lr) = (try SGD(parameters: [p0, p1]), 0.1)
        case "adam": (optimizer, lr) = (try Adam(parameters: [p0, p1], weightDecay: .l2(1e-2)), 1e-2)
        default: (optimizer, lr) = (try Adam.adamW(parameters: [p0, p1], weightDecay: 0.1), 1e-2)
        }
        for t in 0..<4 {
            for (i, p) in [p0, p1].enumerated() {
                let g = try f.floats("grad\(t).p\(i)").values
                g.withUnsafeBufferPointer { p.gradient.data.update(from: $0.baseAddress!, count: g.count) }
            }
            optimizer.step(learningRate: lr)
            for (i, p) in [p0, p1].enumerated() {
                let error = relativeError(Array(p.value.buffer), try f.floats("after\(t).p\(i)").values)
                #expect(error <= 1e-6, "\(name) step \(t) p\(i): relative error \(error)")
            }
        }
        #expect(optimizer.stepCount == 4)
    }

    @Test func decoupledDecayShrinksBeforeTheUpdate() throws {
        let p = try Parameter(name: "w", shape: try Shape([2]))
        try p.assign([1, -2])
        let sgd = try SGD(parameters: [p], weightDecay: .decoupled(0.5))
        sgd.step(learningRate: 0.1)  // zero gradient: only the decay acts, p·(1 − 0.05)
        #expect(Array(p.value.buffer) == [0.95, -1.9])
    }

    /// With `.weights`, decay spares biases and batch norm's scale and shift (parameters that are not
    /// weights); with `.allButDepthwise`, depthwise filters only; with `.all` every parameter decays.
    /// For L2 and decoupled decay, in SGD and Adam.
    @Test(arguments: DecayScope.allCases) func decayScopeChoosesTheParametersThatDecay(_ scope: DecayScope) throws {
        func parameters() throws -> (weight: Parameter, bias: Parameter, depthwise: Parameter) {
            let w = try Parameter(name: "weight", shape: try Shape([2]), layout: .pointwise, isWeight: true)
            let b = try Parameter(name: "bias", shape: try Shape([2]))
            let d = try Parameter(name: "weight", shape: try Shape([1, 1, 2]), layout: .depthwiseHWC, isWeight: true)
            for p in [w, b, d] { try p.assign([1, -2]) }
            return (w, b, d)
        }
        let optimizers: [([Parameter]) throws -> Optimizer] = [
            { try SGD(parameters: $0, momentum: 0.9, weightDecay: .l2(0.5), decayScope: scope) },
            { try SGD(parameters: $0, weightDecay: .decoupled(0.5), decayScope: scope) },
            { try Adam(parameters: $0, weightDecay: .l2(0.5), decayScope: scope) },
            { try Adam.adamW(parameters: $0, weightDecay: 0.5, decayScope: scope) },
        ]
        for make in optimizers {
            let (w, b, d) = try parameters()
            let optimizer = try make([w, b, d])
            optimizer.zeroGradients()
            optimizer.step(learningRate: 0.1)  // zero gradients: only the decay moves a parameter
            #expect(Array(w.value.buffer) != [1, -2], "\(optimizer.kind): the weight decays")
            #expect((Array(b.value.buffer) != [1, -2]) == (scope != .weights), "\(optimizer.kind) \(scope): the bias")
            #expect(
                (Array(d.value.buffer) != [1, -2]) == (scope != .allButDepthwise),
                "\(optimizer.kind) \(scope): the depthwise filter")
        }
    }

    @Test func rejectsBadHyperParameters() {
        #expect(throws: EngineError.self) { try SGD(parameters: [], momentum: 1) }
        #expect(throws: EngineError.self) { try SGD(parameters: [], nesterov: true) }
        #expect(throws: EngineError.self) { try SGD(parameters: [], weightDecay: .l2(-1)) }
        #expect(throws: EngineError.self) { try Adam(parameters: [], beta1: 1) }
        #expect(throws: EngineError.self) { try Adam(parameters: [], epsilon: 0) }
    }
}

@Suite struct LearningRateScheduleTests {
    @Test func shapesFollowTheirDefinitions() throws {
        let constant = try LearningRateSchedule(base: 0.1, totalSteps: 100)
        #expect(constant.rate(at: 0) == 0.1 && constant.rate(at: 99) == 0.1)
        let step = try LearningRateSchedule(base: 1, shape: .step(every: 10, factor: 0.5), totalSteps: 100)
        #expect(step.rate(at: 9) == 1 && step.rate(at: 10) == 0.5 && step.rate(at: 25) == 0.25)
        let multi = try LearningRateSchedule(base: 1, shape: .milestones([50, 75], factor: 0.1), warmupSteps: 5, totalSteps: 105)
        #expect(multi.rate(at: 54) == 1 && abs(multi.rate(at: 55) - 0.1) < 1e-7 && abs(multi.rate(at: 80) - 0.01) < 1e-8)
        let cosine = try LearningRateSchedule(base: 1, shape: .cosine(minimum: 0), warmupSteps: 10, totalSteps: 110)
        #expect(abs(cosine.rate(at: 0) - 0.1) < 1e-7)  // linear warm-up: 1/10, 2/10, …
        #expect(cosine.rate(at: 9) == 1)
        #expect(cosine.rate(at: 10) == 1)  // cosine starts at the base
        #expect(abs(cosine.rate(at: 60) - 0.5) < 1e-6)  // half way
        #expect(cosine.rate(at: 110) < 1e-6)
        // One-cycle: the same warm-up, then a straight line to the minimum at the last step.
        let linear = try LearningRateSchedule(base: 1, shape: .linear(minimum: 0.1), warmupSteps: 10, totalSteps: 110)
        #expect(abs(linear.rate(at: 0) - 0.1) < 1e-7 && linear.rate(at: 9) == 1 && linear.rate(at: 10) == 1)
        #expect(abs(linear.rate(at: 35) - 0.775) < 1e-6 && abs(linear.rate(at: 60) - 0.55) < 1e-6)
        #expect(abs(linear.rate(at: 110) - 0.1) < 1e-7 && abs(linear.rate(at: 500) - 0.1) < 1e-7)
        let rates = (10...110).map(linear.rate)
        #expect(zip(rates, rates.dropFirst()).allSatisfy { $0 > $1 })
    }

    @Test func rejectsBadArguments() {
        #expect(throws: EngineError.self) { try LearningRateSchedule(base: 0, totalSteps: 10) }
        #expect(throws: EngineError.self) { try LearningRateSchedule(base: 0.1, warmupSteps: -1, totalSteps: 10) }
        #expect(throws: EngineError.self) {
            try LearningRateSchedule(base: 0.1, shape: .step(every: 0, factor: 0.1), totalSteps: 10)
        }
        #expect(throws: EngineError.self) { try LearningRateSchedule(base: 0.1, shape: .cosine(minimum: 1), totalSteps: 10) }
        #expect(throws: EngineError.self) { try LearningRateSchedule(base: 0.1, shape: .linear(minimum: 1), totalSteps: 10) }
        #expect(throws: EngineError.self) {
            try LearningRateSchedule(base: 0.1, shape: .milestones([0], factor: 0.1), totalSteps: 10)
        }
    }
}
