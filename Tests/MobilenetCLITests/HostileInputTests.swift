import ConvEngine
import Foundation
import Testing

/// Inputs a careless user or an attacker gives the command line: each ends in a clear error with
/// exit status 1 or 64 (never a trap, an abort or a stack overflow), and nothing on disk is lost,
/// replaced or silently wrong. `mobilenet(_:in:)` also checks that no run ended by a signal.
@Suite(.serialized) struct HostileInputTests {
    static let quick = [
        "--data", "synthetic", "--batch-size", "8", "--optimizer", "adam", "--schedule", "constant",
        "--lr", "2e-3", "--normalize", "seed", "--no-augment",
    ]

    func expectFailure(
        _ arguments: [String], in dir: URL, status: Int32? = nil, _ message: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let r = try mobilenet(arguments, in: dir)
        #expect(r.status == 1 || r.status == 64, "\(arguments): exit \(r.status)", sourceLocation: sourceLocation)
        if let status { #expect(r.status == status, "\(arguments): exit \(r.status)", sourceLocation: sourceLocation) }
        #expect(r.err.contains(message), "\(arguments): \(r.err)", sourceLocation: sourceLocation)
    }

    /// Sizes that once overflowed, trapped or allocated hundreds of GB.
    @Test func impossibleSizesAreErrors() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [([String], Int32?, String)] = [
            (["train", "--data", "synthetic", "--batch-size", "4611686018427387904"], nil, "larger than the 10000 images"),
            (["train", "--data", "synthetic", "--batch-size", "\(Int.max)"], nil, "larger than the 10000 images"),
            (["train", "--data", "synthetic", "--batch-size", "10001"], nil, "larger than the 10000 images"),
            (
                ["train", "--data", "synthetic", "--epochs", "4611686018427387904"], 64,
                "--epochs 4611686018427387904 makes more steps than can be counted"
            ),
            (
                ["train", "--data", "synthetic", "--recipe", "cifar10-fast", "--epochs", "\(Int.max)"], 64,
                "--epochs \(Int.max) makes more steps than can be counted"
            ),
            (
                ["train", "--data", "synthetic", "--model", "mobilenet", "--alpha", "1e30"], 64,
                "width multiplier 1e+30 makes too many channels"
            ),
            (["train", "--data", "synthetic", "--model", "mobilenet", "--alpha", "1e6"], nil, "memory"),
            (["train", "--data", "synthetic", "--model", "mobilenet", "--alpha", "100"], 1, "needs about"),
            (["train", "--data", "synthetic", "--resolution", "3000"], 1, "needs about"),
            (
                ["train", "--data", "synthetic", "--model", "mobilenet", "--resolution", "100000"], 1,
                "the input side must be in 1...16384"
            ),
            (["train", "--data", "synthetic", "--resolution", "1e9"], 64, "--resolution"),
            (["train", "--data", "synthetic", "--threads", "100000"], 64, "--threads must be in 1...256, got 100000"),
            (["train", "--data", "synthetic", "--batch-size", "-1"], 64, "--batch-size must be positive, got -1"),
            (["train", "--data", "synthetic", "--warmup", "-3"], 64, "--warmup must not be negative, got -3"),
            (["train", "--data", "synthetic", "--model", "seed", "--alpha", "0.5"], 64, "SeedNet has no width multiplier"),
            (["summary", "--model", "mobilenet", "--alpha", "1e30"], 64, "makes too many channels"),
            (["summary", "--model", "mobilenet", "--classes", "1000000000000000000"], 64, "too large to count"),
            (["summary", "--resolution", "\(Int.max)"], 64, "too many elements"),
            (["bench", "--model", "mobilenet", "--batch-size", "\(Int.max)"], nil, "memory"),
        ]
        for (arguments, status, message) in cases { try expectFailure(arguments, in: dir, status: status, message) }
        // summary counts what it cannot build, from shapes: a 100-wide MobileNet (a TB of weights).
        let wide = try mobilenet(["summary", "--model", "mobilenet", "--alpha", "100", "--json"], in: dir)
        #expect(wide.status == 0, "\(wide.err)")
        #expect((try jsonObject(wide.out)["baseline_params"] as? Int).map { $0 > 200_000_000_000 } == true)
        #expect(
            try mobilenet(["summary", "--model", "mobilenet", "--stem", "imagenet", "--resolution", "100000"], in: dir).status
                == 0)
    }

    /// A trained checkpoint with one metadata key replaced.
    func checkpoint(in dir: URL, _ name: String, _ changes: [String: String]) throws -> String {
        let base = dir.appendingPathComponent("base.safetensors")
        if !FileManager.default.fileExists(atPath: base.path) {
            let r = try mobilenet(["train"] + Self.quick + ["--steps", "2", "--checkpoint", base.path], in: dir)
            #expect(r.status == 0, "\(r.err)")
        }
        var file = try SafeTensors(contentsOf: base)
        file.metadata.merge(changes) { $1 }
        try file.write(to: dir.appendingPathComponent(name))
        return name
    }

    /// Checkpoint metadata that once trapped, allocated 200 GB, divided by zero or fell back silently.
    @Test func malformedCheckpointMetadataIsAnErrorNamingTheKey() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let mobile = ["model.family": "mobilenet"]
        let evalCases: [([String: String], String)] = [
            (mobile.merging(["model.width_multiplier": "1e30"]) { $1 }, "model.width_multiplier=1e30"),
            (["model.resolution": "\(Int.max)"], "model.resolution=\(Int.max)"),
            (["model.classes": "1000000000000000000"], "model.classes=1000000000000000000"),
            (mobile.merging(["model.resolution": "100000", "model.stem": "imagenet"]) { $1 }, "needs about"),
            (["run.normalize": "bogus"], "run.normalize"),
            (["data.classes": "[\"a\", \"b\"]"], "data.classes names 2 classes"),
            (["run.step": "-1"], "run.step"),
        ]
        for (i, (changes, message)) in evalCases.enumerated() {
            let name = try checkpoint(in: dir, "bad\(i).safetensors", changes)
            try expectFailure(["eval", "--checkpoint", name, "--data", "synthetic"], in: dir, message)
        }
        // predict with a class list shorter than the classes once indexed out of range.
        try Data([UInt8](repeating: 9, count: 3073)).write(to: dir.appendingPathComponent("one.bin"))
        let short = try checkpoint(in: dir, "short.safetensors", ["data.classes": "[\"only\"]"])
        try expectFailure(["predict", "--checkpoint", short, "one.bin"], in: dir, "data.classes names 1 classes")
        // A stored label beyond the model's classes is shown by number.
        try Data([42] + [UInt8](repeating: 9, count: 3072)).write(to: dir.appendingPathComponent("odd.bin"))
        let odd = try mobilenet(["predict", "--checkpoint", "base.safetensors", "odd.bin"], in: dir)
        #expect(odd.status == 0 && odd.out.contains("(label: label 42)"), "\(odd.err)")
        // Resuming: an optimizer step near 2^63, a negative step, a position that does not follow.
        let resumeCases: [([String: String], String)] = [
            (["optimizer.step": "\(Int.max)"], "optimizer.step"),
            (["run.step": "-1"], "run.step"),
            (["run.step": "1"], "run.position 0:2 does not follow from run.step 1"),
            (["run.step": "1", "run.position": "0:1"], "optimizer.step 2 does not match run.step 1"),
            (["run.position": "7:3"], "run.position 7:3 does not follow from run.step 2"),
        ]
        for (i, (changes, message)) in resumeCases.enumerated() {
            let name = try checkpoint(in: dir, "resume\(i).safetensors", changes)
            try expectFailure(["train", "--resume", name, "--steps", "4"], in: dir, message)
        }
    }

    /// Devices, FIFOs and links are written through or followed, never replaced by a regular file.
    @Test func specialFilesAreWrittenThroughAndLinksFollowed() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try mobilenet(["train"] + Self.quick + ["--steps", "2", "--checkpoint", "m.safetensors"], in: dir).status == 0)
        for (arguments, fifo) in [
            (["eval", "--checkpoint", "m.safetensors", "--logits", "logits.fifo"], "logits.fifo"),
            (["train"] + Self.quick + ["--steps", "2", "--checkpoint", "ck.fifo"], "ck.fifo"),
        ] {
            let path = dir.appendingPathComponent(fifo).path
            #expect(mkfifo(path, 0o644) == 0)
            let reader = Process()
            reader.executableURL = URL(fileURLWithPath: "/bin/sh")
            reader.arguments = ["-c", "cat '\(path)' | wc -c > '\(path).count'"]
            try reader.run()
            let r = try mobilenet(arguments, in: dir)
            #expect(r.status == 0, "\(arguments): \(r.err)")
            // Had the write never come, this releases the reader (an opened and closed writing end is EOF).
            let release = open(path, O_WRONLY | O_NONBLOCK)
            if release >= 0 { close(release) }
            reader.waitUntilExit()
            var info = stat()
            #expect(lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO, "\(fifo) was replaced")
            let count =
                Int(
                    (try String(contentsOfFile: path + ".count", encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)
                ) ?? 0
            #expect(count > 1000, "\(fifo): \(count) bytes went through")
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("ck.best.fifo").path))
        }
        // A link to a checkpoint in another folder: the target is replaced, the link stays.
        let other = dir.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        try Data("old".utf8).write(to: other.appendingPathComponent("real.safetensors"))
        try FileManager.default.createSymbolicLink(
            atPath: dir.appendingPathComponent("link.safetensors").path,
            withDestinationPath: other.appendingPathComponent("real.safetensors").path)
        #expect(
            try mobilenet(["train"] + Self.quick + ["--steps", "2", "--checkpoint", "link.safetensors"], in: dir).status == 0)
        #expect(
            try FileManager.default.destinationOfSymbolicLink(atPath: dir.appendingPathComponent("link.safetensors").path)
                .hasSuffix("real.safetensors"))
        #expect(try SafeTensors(contentsOf: other.appendingPathComponent("real.safetensors")).metadata["run.step"] == "2")
    }

    /// The log: appended to, never silently short, NaN written so that plot reads it, a diverged
    /// model never saved as the best.
    @Test func theLogLosesNothingSilently() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A full disk: an error that names the event lost.
        try expectFailure(
            ["train"] + Self.quick + ["--steps", "2", "--log", "/dev/full"], in: dir, status: 1, "start event is lost")
        // Appended: what was there stays.
        let earlier = #"{"event":"checkpoint","path":"earlier","step":1}"# + "\n"
        try Data(earlier.utf8).write(to: dir.appendingPathComponent("run.jsonl"))
        // Diverging at once, evaluated every step: the NaN test loss is logged, the run stops, nothing is saved as best.
        let diverged = try mobilenet(
            [
                "train", "--data", "synthetic", "--batch-size", "8", "--lr", "1e30", "--steps", "5", "--eval-every", "1",
                "--log", "run.jsonl", "--checkpoint", "d.safetensors",
            ], in: dir)
        #expect(diverged.status == 1 && diverged.err.contains("the model diverged"), "\(diverged.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("d.best.safetensors").path))
        let log = try String(contentsOf: dir.appendingPathComponent("run.jsonl"), encoding: .utf8)
        #expect(log.hasPrefix(earlier) && log.contains(#""test_loss":"NaN""#), "\(log)")
        let plot = try mobilenet(["plot", "run.jsonl", "--output", "charts"], in: dir)
        #expect(plot.status == 0, "\(plot.err)")
        // A torn last line (a run killed mid-write) is left out with a note.
        try Data((log + #"{"event":"st"#).utf8).write(to: dir.appendingPathComponent("torn.jsonl"))
        let torn = try mobilenet(["plot", "torn.jsonl", "--output", "charts"], in: dir)
        #expect(torn.status == 0 && torn.err.contains("incomplete"), "\(torn.err)")
        try expectFailure(["plot", "charts"], in: dir, status: 1, "cannot read the log")
    }

    /// A model whose logits overflow: eval says its loss is NaN, as JSON can carry it, instead of
    /// printing `{}`.
    @Test func evalReportsANaNLossInItsJSON() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try mobilenet(["train"] + Self.quick + ["--steps", "1", "--checkpoint", "m.safetensors"], in: dir).status == 0)
        var file = try SafeTensors(contentsOf: dir.appendingPathComponent("m.safetensors"))
        for (name, entry) in file.entries where name.hasSuffix("weight") && !name.hasPrefix("optimizer.") {
            try file.setFloats(name, shape: entry.shape, [Float](repeating: 3e38, count: entry.shape.reduce(1, *)))
        }
        try file.write(to: dir.appendingPathComponent("huge.safetensors"))
        let r = try mobilenet(["eval", "--checkpoint", "huge.safetensors", "--json"], in: dir)
        #expect(r.status == 0, "\(r.err)")
        #expect(try jsonObject(r.out)["loss"] as? String == "NaN", "\(r.out)")
    }

    /// Two trainers on one checkpoint: the second is refused and told who holds it.
    @Test func aSecondTrainerOnTheSameCheckpointIsRefused() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = Process()
        first.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "mobilenet")
        first.arguments = ["train"] + Self.quick + ["--steps", "1000000", "--checkpoint", "shared.safetensors", "--threads", "1"]
        first.currentDirectoryURL = dir
        first.standardError = FileHandle.nullDevice
        try first.run()
        // SIGKILL: the test runner blocks SIGTERM, and its children inherit the mask.
        defer {
            kill(first.processIdentifier, SIGKILL)
            first.waitUntilExit()
        }
        let lock = dir.appendingPathComponent(".shared.safetensors.lock")
        for _ in 0..<600
        where (try? String(contentsOf: lock, encoding: .utf8))?.contains("process \(first.processIdentifier)") != true {
            usleep(50_000)
        }
        try expectFailure(
            ["train"] + Self.quick + ["--steps", "2", "--checkpoint", "shared.safetensors"], in: dir, status: 1,
            "being written by another process (process \(first.processIdentifier): mobilenet train")
    }

    /// Resume continues the recorded run: its length, its data, its checkpoint; a conflicting option
    /// is an error naming both values; a finished run reports its real accuracy.
    @Test func resumeContinuesTheRecordedRun() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let full = try mobilenet(
            ["train"] + Self.quick + ["--steps", "6", "--checkpoint", "full.safetensors", "--json"], in: dir)
        #expect(full.status == 0, "\(full.err)")
        let accuracy = try jsonObject(full.out)["test_accuracy"] as? Double
        // Finished: nothing to train, and the accuracy measured, not 0.
        let finished = try mobilenet(["train", "--resume", "full.safetensors", "--json"], in: dir)
        #expect(finished.status == 0 && finished.err.contains("nothing to train"), "\(finished.err)")
        #expect(try jsonObject(finished.out)["test_accuracy"] as? Double == accuracy)
        // Part-way (a 6-step run whose checkpoint at step 3 is all that is left): no --steps, --data or
        // --checkpoint; it continues to step 6 and saves into the resumed file.
        #expect(try mobilenet(["train"] + Self.quick + ["--steps", "6", "--epochs", "1"], in: dir).status == 64)
        #expect(
            try mobilenet(["train"] + Self.quick + ["--steps", "3", "--checkpoint", "part.safetensors"], in: dir).status == 0)
        var interrupted = try SafeTensors(contentsOf: dir.appendingPathComponent("part.safetensors"))
        interrupted.metadata["run.steps"] = "6"
        try interrupted.write(to: dir.appendingPathComponent("part.safetensors"))
        let resumed = try mobilenet(["train", "--resume", "part.safetensors"], in: dir)
        #expect(
            resumed.status == 0 && resumed.err.contains("6 steps") && resumed.err.contains("resuming at step 3"), "\(resumed.err)"
        )
        let part = try SafeTensors(contentsOf: dir.appendingPathComponent("part.safetensors"))
        #expect(part.metadata["run.step"] == "6")
        #expect(part.entries == (try SafeTensors(contentsOf: dir.appendingPathComponent("full.safetensors"))).entries)
        // A conflicting option names both values; a longer run is allowed and says what changes.
        try expectFailure(
            ["train", "--resume", "part.safetensors", "--lr", "0.5"], in: dir, status: 64,
            "--lr was 0.002 in the run being resumed, but 0.5 was given")
        try expectFailure(
            ["train", "--resume", "part.safetensors", "--model", "mobilenet"], in: dir, status: 64, "--model was seed")
        let longer = try mobilenet(["train", "--resume", "part.safetensors", "--steps", "8"], in: dir)
        #expect(longer.status == 0 && longer.err.contains("changes from 6 steps to 8 steps"), "\(longer.err)")
        // Other data than the run trained on: an error naming both.
        let cifar = try tinyCIFAR(in: dir)
        #expect(
            try mobilenet(
                [
                    "train", "--data", cifar.path, "--batch-size", "5", "--steps", "2", "--checkpoint", "c.safetensors",
                    "--no-augment",
                ], in: dir
            ).status == 0)
        try expectFailure(
            ["train", "--resume", "c.safetensors", "--data", "synthetic", "--steps", "4"], in: dir,
            "is not the data the run trained on (\(cifar.path))")
        #expect(try mobilenet(["train", "--resume", "c.safetensors", "--data", cifar.path, "--steps", "4"], in: dir).status == 0)
    }

    /// An unwritable checkpoint is found before training, and a killed run's temporary file goes.
    @Test func checkpointProblemsAreFoundAtTheStart() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = try mobilenet(
            ["train"] + Self.quick + ["--steps", "50", "--checkpoint", "no/such/folder/x.safetensors"], in: dir)
        #expect(
            missing.status == 1 && missing.err.contains("the folder") && missing.err.contains("does not exist"), "\(missing.err)")
        #expect(!missing.err.contains("/50"), "it trained before finding out: \(missing.err)")
        try expectFailure(["train"] + Self.quick + ["--steps", "2", "--checkpoint", "."], in: dir, status: 1, "is a directory")
        var dead: pid_t = 4_000_000
        while kill(dead, 0) == 0 || errno != ESRCH { dead += 1 }
        let stale = dir.appendingPathComponent(".x.safetensors.tmp-\(dead)")
        try Data("half a checkpoint".utf8).write(to: stale)
        #expect(try mobilenet(["train"] + Self.quick + ["--steps", "2", "--checkpoint", "x.safetensors"], in: dir).status == 0)
        #expect(!FileManager.default.fileExists(atPath: stale.path))
    }

    /// A CIFAR-10 binary folder of 50 training and 10 test images.
    func tinyCIFAR(in dir: URL) throws -> URL {
        let folder = dir.appendingPathComponent("cifar-10-batches-bin")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var g = RandomGenerator(seed: 3)
        func records(_ n: Int) -> Data {
            Data((0..<n).flatMap { _ in [UInt8(g.next() % 10)] + (0..<3072).map { _ in UInt8(truncatingIfNeeded: g.next()) } })
        }
        for i in 1...5 { try records(10).write(to: folder.appendingPathComponent("data_batch_\(i).bin")) }
        try records(10).write(to: folder.appendingPathComponent("test_batch.bin"))
        try Data((0..<10).map { "class\($0)" }.joined(separator: "\n").utf8).write(
            to: folder.appendingPathComponent("batches.meta.txt"))
        return folder
    }
}
