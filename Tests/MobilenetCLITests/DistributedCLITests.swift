import ConvEngine
import Foundation
import Testing

/// `mpirun -np N mobilenet train`, on loopback: the same run as one process, resuming across N,
/// a killed process, bad combinations. Open MPI comes with `make setup`.
@Suite(.serialized) struct DistributedCLITests {
    /// SeedNet at batch 256 on the synthetic set: 39 steps an epoch, so the log has every step's loss.
    static func seed(lr: String = "0.002") -> [String] {
        [
            "--data", "synthetic", "--model", "seed", "--batch-size", "256", "--optimizer", "sgd", "--lr", lr,
            "--schedule", "constant", "--normalize", "seed", "--threads", "1",
        ]
    }

    /// MobileNet 0.25, with batch norm.
    static let mobileNet = [
        "--data", "synthetic", "--model", "mobilenet", "--alpha", "0.25", "--batch-size", "256",
        "--optimizer", "sgd", "--lr", "0.05", "--schedule", "constant", "--threads", "1",
    ]

    /// Runs `mpirun … -np processes mobilenet arguments` in `directory`, or `mobilenet` alone when
    /// `processes` is nil.
    static func run(
        _ processes: Int?, _ arguments: [String], in directory: URL, timeout: Double = 300
    ) throws -> (status: Int32, out: String, err: String) {
        guard let processes else { return try mobilenet(arguments, in: directory, timeout: timeout) }
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "mobilenet")
        return try command(
            try mpirun(), ["--allow-run-as-root", "--oversubscribe", "-np", "\(processes)", binary.path] + arguments,
            in: directory, timeout: timeout)
    }

    static func mpirun() throws -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = "\(dir)/mpirun"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw EngineError.io("mpirun is not on PATH: make setup installs Open MPI (openmpi-bin)")
    }

    /// The losses of a run's log, step by step.
    static func losses(_ log: URL) throws -> [Int: Double] {
        var losses: [Int: Double] = [:]
        for line in try String(contentsOf: log, encoding: .utf8).split(separator: "\n") {
            let event = try jsonObject(String(line))
            if event["event"] as? String == "step", let step = event["step"] as? Int, let loss = event["loss"] as? Double {
                losses[step] = loss
            }
        }
        return losses
    }

    static func expectSameLosses(_ a: [Int: Double], _ b: [Int: Double], steps: ClosedRange<Int>, tolerance: Double = 1e-5) {
        for step in steps {
            guard let x = a[step], let y = b[step] else {
                Issue.record("step \(step) is missing from a log")
                continue
            }
            #expect(abs(x - y) <= tolerance * abs(x), "step \(step): loss \(x) with one process, \(y) with several")
        }
    }

    static func accuracy(_ out: String) throws -> Double? { try jsonObject(out)["test_accuracy"] as? Double }

    /// One step of two processes is one process's step up to the rounding of a batch sum taken in
    /// another order: every tensor agrees to 1e-5 of its largest value (measured: 7e-8 for weights, 2e-6 for the small biases), at a learning rate that
    /// makes a wrong average, a wrong shard or a missed process change them by far more.
    @Test func oneStepOfTwoProcessesIsOneProcessStep() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let options = Self.seed(lr: "0.05")
        for (processes, name) in [(nil, "one"), (2, "two")] as [(Int?, String)] {
            let r = try Self.run(
                processes, ["train"] + options + ["--steps", "1", "--checkpoint", "\(name).safetensors"], in: dir)
            #expect(r.status == 0, "\(r.err)")
        }
        let one = try SafeTensors(contentsOf: dir.appendingPathComponent("one.safetensors"))
        let two = try SafeTensors(contentsOf: dir.appendingPathComponent("two.safetensors"))
        #expect(Set(one.entries.keys) == Set(two.entries.keys))
        for name in one.entries.keys.sorted() where one.entries[name]?.dtype == .f32 {
            let a = try one.floats(name).values, b = try two.floats(name).values
            let scale = a.map { abs($0) }.max() ?? 0
            let difference = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            #expect(difference <= 1e-5 * max(scale, 1e-30), "\(name): differs by \(difference) (largest value \(scale))")
        }
    }

    /// 50 steps: the losses agree to 1e-5 relative step by step. Training amplifies rounding, the
    /// same in one process as across several: a learning rate of 0.05 takes this model's losses 1e-3
    /// apart within 30 steps between two equally exact convolution lowerings (`--conv-algorithm
    /// im2col` against `direct`) of one process; at 0.002 they stay within 3e-6.
    @Test func twoProcessesTrainSeedNetAsOneDoes() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let options = Self.seed()
        let one = try Self.run(nil, ["train"] + options + ["--steps", "50", "--log", "one.jsonl", "--json"], in: dir)
        #expect(one.status == 0, "\(one.err)")
        let two = try Self.run(2, ["train"] + options + ["--steps", "50", "--log", "two.jsonl", "--json"], in: dir)
        #expect(two.status == 0, "\(two.err)")
        Self.expectSameLosses(
            try Self.losses(dir.appendingPathComponent("one.jsonl")), try Self.losses(dir.appendingPathComponent("two.jsonl")),
            steps: 1...50)
        let (a, b) = (try #require(try Self.accuracy(one.out)), try #require(try Self.accuracy(two.out)))
        #expect(abs(a - b) <= 0.005, "test accuracy \(a) with one process, \(b) with two")
        // Process 0 alone speaks: one summary, one start line that counts the processes.
        #expect(two.out.components(separatedBy: "test_accuracy").count == 2, "\(two.out)")
        #expect(two.err.contains("2 processes on 1 host(s), 128 images each"), "\(two.err)")
        let start = try jsonObject(
            String(try String(contentsOf: dir.appendingPathComponent("two.jsonl"), encoding: .utf8).split(separator: "\n")[0]))
        #expect(start["ranks"] as? Int == 2 && start["hosts"] as? Int == 1, "\(start)")
    }

    /// The largest difference between the step's gradients (SGD's momentum buffers after one
    /// step) of two checkpoints, relative to each tensor's largest value.
    static func gradientDifference(_ a: URL, _ b: URL) throws -> Float {
        let x = try SafeTensors(contentsOf: a), y = try SafeTensors(contentsOf: b)
        var worst: Float = 0
        for name in x.entries.keys where name.hasSuffix("momentum_buffer") {
            let u = try x.floats(name).values, v = try y.floats(name).values
            let scale = u.map { abs($0) }.max() ?? 0
            worst = max(worst, (zip(u, v).map { abs($0 - $1) }.max() ?? 0) / max(scale, 1e-30))
        }
        return worst
    }

    /// With --sync-batchnorm, MobileNet's first step over two processes is one process's step: the
    /// loss to 1e-6, the gradients as close as one process's are under another, equally exact
    /// convolution lowering. Batch norm's gradients subtract nearly equal sums, so float rounding
    /// shows in them at 1e-2 of their largest value (measured: 0.019 between `--conv-algorithm
    /// im2col` and `auto` in one process, 0.033 between one and two processes); each process's
    /// own statistics, DistributedDataParallel's default, are another model (3.2).
    @Test func syncedBatchNormTrainsMobileNetAsOneProcessDoes() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let step = ["train"] + Self.mobileNet + ["--steps", "1", "--no-augment", "--json"]
        var losses: [String: Double] = [:]
        for (processes, name, extra) in [
            (nil, "one", []), (2, "synced", ["--sync-batchnorm"]), (2, "local", []),
        ] as [(Int?, String, [String])] {
            let r = try Self.run(
                processes, step + extra + ["--checkpoint", "\(name).safetensors", "--log", "\(name).jsonl"], in: dir)
            #expect(r.status == 0, "\(r.err)")
            losses[name] = try Self.losses(dir.appendingPathComponent("\(name).jsonl"))[1]
            if name != "one" {
                #expect(
                    r.err.contains(extra.isEmpty ? "over each process's part" : "batch norm over the global batch"), "\(r.err)")
            }
        }
        let one = try #require(losses["one"]), synced = try #require(losses["synced"]), local = try #require(losses["local"])
        #expect(abs(one - synced) <= 1e-6 * one, "first loss \(one) in one process, \(synced) in two")
        #expect(abs(one - local) > 1e-4 * one, "each process's own statistics should change the loss: \(one), \(local)")
        let synchronized = try Self.gradientDifference(
            dir.appendingPathComponent("one.safetensors"), dir.appendingPathComponent("synced.safetensors"))
        let separate = try Self.gradientDifference(
            dir.appendingPathComponent("one.safetensors"), dir.appendingPathComponent("local.safetensors"))
        #expect(synchronized <= 0.1, "gradients differ by \(synchronized) of their largest value")
        #expect(separate > 0.5, "gradients with each process's statistics differ by only \(separate)")
    }

    /// 2 processes for 20 steps, then 1 (and the reverse: 1, then 3) to step 40: the losses of one
    /// process's straight run.
    @Test func resumeWithAnotherProcessCount() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let straight = try Self.run(nil, ["train"] + Self.seed() + ["--steps", "40", "--log", "straight.jsonl"], in: dir)
        #expect(straight.status == 0, "\(straight.err)")
        let expected = try Self.losses(dir.appendingPathComponent("straight.jsonl"))
        for (first, second, batch) in [(2, nil, "256"), (nil, 3, "255")] as [(Int?, Int?, String)] {
            var options = Self.seed()
            options[options.firstIndex(of: "--batch-size")! + 1] = batch
            let name = "\(first ?? 1)-\(second ?? 1)"
            let part = try Self.run(
                first, ["train"] + options + ["--steps", "20", "--checkpoint", "\(name).safetensors", "--log", "\(name).jsonl"],
                in: dir)
            #expect(part.status == 0, "\(part.err)")
            let rest = try Self.run(
                second,
                ["train", "--steps", "40", "--resume", "\(name).safetensors", "--threads", "1", "--log", "\(name).jsonl"],
                in: dir)
            #expect(rest.status == 0, "\(rest.err)")
            #expect(rest.err.contains("resuming at step 20"), "\(rest.err)")
            let losses = try Self.losses(dir.appendingPathComponent("\(name).jsonl"))
            if batch == "256" {
                Self.expectSameLosses(expected, losses, steps: 1...40)
            } else {
                #expect(Set(losses.keys).isSuperset(of: 21...40), "\(losses.keys.sorted())")
            }
        }
    }

    @Test func badCombinationsAreClearErrorsFromProcessZero() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var options = Self.seed()
        options[options.firstIndex(of: "--batch-size")! + 1] = "255"
        let indivisible = try Self.run(2, ["train"] + options + ["--steps", "2"], in: dir, timeout: 60)
        #expect(indivisible.status != 0)
        #expect(indivisible.err.contains("process 0 of 2") && indivisible.err.contains("must divide by 2"), "\(indivisible.err)")
        #expect(!indivisible.err.contains("process 1 of 2"), "\(indivisible.err)")

        // Two programs in one job (mpirun's MPMD form) with different learning rates.
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "mobilenet")
        let differing = try command(
            try Self.mpirun(),
            ["--allow-run-as-root", "--oversubscribe", "-np", "1", binary.path, "train"] + Self.seed() + ["--steps", "2"]
                + [":", "-np", "1", binary.path, "train"] + Self.seed() + ["--steps", "2", "--momentum", "0.5"],
            in: dir, timeout: 60)
        #expect(differing.status != 0)
        #expect(differing.err.contains("process 1 was started with other options"), "\(differing.err)")
        #expect(differing.err.contains("momentum"), "\(differing.err)")
    }

    /// A process killed mid-run ends the job within seconds, naming it; the last checkpoint is
    /// whole, and the run resumes from it.
    @Test func aKilledProcessEndsTheJobAndTheRunResumes() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "mobilenet")
        let job = Process()
        job.executableURL = URL(fileURLWithPath: try Self.mpirun())
        job.arguments =
            ["--allow-run-as-root", "--oversubscribe", "-np", "2", binary.path, "train"] + Self.seed()
            + ["--steps", "100000", "--eval-every", "5", "--checkpoint", "run.safetensors"]
        job.currentDirectoryURL = dir
        let err = Pipe()
        job.standardError = err
        job.standardOutput = FileHandle.nullDevice
        try job.run()
        // The first checkpoint is written at the end of the first epoch (39 steps).
        let checkpoint = dir.appendingPathComponent("run.safetensors")
        let started = Date()
        while !FileManager.default.fileExists(atPath: checkpoint.path) && Date().timeIntervalSince(started) < 240 {
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(FileManager.default.fileExists(atPath: checkpoint.path), "no checkpoint after 240 s")
        let ranks = try command("/usr/bin/pgrep", ["-P", "\(job.processIdentifier)", "-f", "mobilenet"], in: dir, timeout: 10)
        let pids = ranks.out.split(separator: "\n").compactMap { Int32($0) }
        #expect(pids.count == 2, "the job's processes: \(ranks.out)")
        guard let victim = pids.last else {
            job.terminate()
            return
        }
        kill(victim, SIGKILL)
        let killed = Date()
        while job.isRunning && Date().timeIntervalSince(killed) < 30 { Thread.sleep(forTimeInterval: 0.1) }
        let ended = !job.isRunning
        if !ended { kill(job.processIdentifier, SIGKILL) }
        job.waitUntilExit()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(ended, "the job still ran 30 s after a process was killed")
        #expect(job.terminationStatus != 0)
        #expect(message.contains("rank"), "mpirun's message: \(message)")
        let resumed = try Self.run(
            nil, ["train", "--resume", "run.safetensors", "--steps", "45", "--threads", "1", "--json"], in: dir)
        #expect(resumed.status == 0, "\(resumed.err)")
        #expect(resumed.err.contains("resuming at step "), "\(resumed.err)")
    }
}
