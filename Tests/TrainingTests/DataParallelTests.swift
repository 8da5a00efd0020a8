import CIFAR
import ConvEngine
import ConvModels
import Foundation
import Testing
import Training

/// Processes of a data-parallel run played by threads of one process: each collective waits until
/// every member has called it, as MPI's do, and adds or gathers in rank order.
final class ThreadGroup: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var arrived = 0, generation = 0
    private var slots: [Any?]

    init(size: Int) {
        self.size = size
        slots = Array(repeating: nil, count: size)
    }

    /// Every member's `value`, by rank, once every member has given its own.
    func exchange<T>(_ value: T, rank: Int) -> [T] {
        condition.lock()
        defer { condition.unlock() }
        slots[rank] = value
        wait()
        let all = slots.map { $0 as! T }
        wait()  // nobody overwrites a slot before everyone has read them all
        return all
    }

    /// Waits, holding the lock, until every member has arrived.
    private func wait() {
        let mine = generation
        arrived += 1
        if arrived == size {
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == mine { condition.wait() }
        }
    }

    func member(_ rank: Int) -> Member { Member(group: self, rank: rank) }

    final class Member: ProcessGroup {
        let group: ThreadGroup
        let rank: Int
        init(group: ThreadGroup, rank: Int) {
            self.group = group
            self.rank = rank
        }
        var processCount: Int { group.size }
        var hostCount: Int { 1 }

        func sum(_ values: UnsafeMutablePointer<Float>, count: Int) throws {
            // Added in rank order, in Float, as MPI_SUM adds floats.
            let all = group.exchange(Array(UnsafeBufferPointer(start: values, count: count)), rank: rank)
            for i in 0..<count { values[i] = all.reduce(Float(0)) { $0 + $1[i] } }
        }

        func sum(_ values: UnsafeMutablePointer<Double>, count: Int) throws {
            let all = group.exchange(Array(UnsafeBufferPointer(start: values, count: count)), rank: rank)
            for i in 0..<count { values[i] = all.reduce(0) { $0 + $1[i] } }
        }

        func broadcast(_ bytes: [UInt8]) throws -> [UInt8] { group.exchange(bytes, rank: rank)[0] }

        func gather(_ text: String) throws -> [String] { group.exchange(text, rank: rank) }
    }
}

/// `TrainingRun` with a process group, through the library: the processes are threads here, so the
/// test needs no MPI (`DistributedCLITests` runs the real thing under mpirun).
@Suite(.serialized) struct DataParallelTests {
    static let data = Result { try ImageDataset(SyntheticShapes.dataset(trainCount: 512, testCount: 100, seed: 3)) }

    static func options(learningRate: Float = 0.01) throws -> TrainingOptions {
        TrainingOptions(
            model: try ModelConfiguration(family: .seed), length: .steps(6), batchSize: 64, learningRate: learningRate,
            schedule: .constant, augment: false, normalization: .seed, seed: 7)
    }

    /// Trains `options` as `size` processes (threads); returns every member's final checkpoint, or
    /// the errors they threw.
    static func train(_ size: Int, options: @escaping @Sendable (Int) throws -> TrainingOptions) throws -> [Result<
        SafeTensors, Error
    >] {
        final class Results: @unchecked Sendable {
            var values: [Result<SafeTensors, Error>]
            init(_ n: Int) { values = Array(repeating: .failure(EngineError.io("not run")), count: n) }
        }
        let data = try Self.data.get()
        let group = ThreadGroup(size: size)
        let results = Results(size)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: size) { rank in
            let result = Result {
                let run = try TrainingRun(
                    options: try options(rank), dataset: data, checkpoint: nil, log: RunLog(url: nil),
                    convolutionAlgorithm: .direct, group: size == 1 ? nil : group.member(rank))
                _ = try run.run()
                return try SafeTensors(bytes: Checkpoint.make(network: run.network, optimizer: run.optimizer).serialized())
            }
            lock.lock()
            results.values[rank] = result
            lock.unlock()
        }
        return results.values
    }

    /// Six steps (measured: 1.2e-6 of each tensor's largest value at most). At a learning rate of
    /// 0.05 the fourth step amplifies the rounding to 5e-3, as training amplifies any rounding (see
    /// `DistributedCLITests`); concurrent runs without a group are bitwise equal, so it is not the threads.
    /// The convolutions run on the direct kernels whatever the build chooses: they sum a weight
    /// gradient image by image, so the processes' halves of the batch add up in nearly the same
    /// order as one process's batch (on the GEMM, which AVX-512 builds pick for SeedNet's pointwise
    /// layers, the sixth step amplified the other order's rounding to 4e-3).
    @Test func twoProcessesTrainAsOneAndHoldTheSameWeights() throws {
        let one = try #require(try Self.train(1) { _ in try Self.options() }.first).get()
        let two = try Self.train(2) { _ in try Self.options() }.map { try $0.get() }
        #expect(two[0].entries == two[1].entries, "the processes hold different weights")
        for name in one.entries.keys.sorted() where one.entries[name]?.dtype == .f32 {
            let a = try one.floats(name).values, b = try two[0].floats(name).values
            let scale = a.map { abs($0) }.max() ?? 0
            let difference = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            #expect(difference <= 1e-5 * max(scale, 1e-30), "\(name): \(difference) apart (largest value \(scale))")
        }
    }

    @Test func differingOptionsAreAnErrorNamingTheProcess() throws {
        let results = try Self.train(2) { rank in try Self.options(learningRate: rank == 0 ? 0.05 : 0.01) }
        for result in results {
            #expect(throws: EngineError.self) { try result.get() }
            if case .failure(let error) = result {
                #expect("\(error)".contains("process 1 was started with other options"), "\(error)")
            }
        }
    }

    @Test func aBatchThatDoesNotDivideIsAnError() throws {
        let results = try Self.train(2) { _ in
            var options = try Self.options()
            options.batchSize = 63
            return options
        }
        for result in results {
            if case .failure(let error) = result {
                #expect("\(error)".contains("must divide by 2"), "\(error)")
            } else {
                Issue.record("a batch of 63 over 2 processes was accepted")
            }
        }
    }
}
