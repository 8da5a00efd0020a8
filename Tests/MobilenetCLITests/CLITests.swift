import ConvEngine
import Foundation
import Testing

@testable import mobilenet

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Runs `mobilenet` (built next to the test bundle) in `directory`; a run that takes more than
/// `timeout` seconds (a hang) is killed and recorded as an issue.
func mobilenet(
    _ arguments: [String], in directory: URL, environment: [String: String] = [:],
    timeout: Double = 300
) throws -> (status: Int32, out: String, err: String) {
    let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("mobilenet")
    return try command(binary.path, arguments, in: directory, environment: environment, timeout: timeout)
}

/// Runs `executable arguments` in `directory` without `CIFAR10_DIR`; a run that takes more than
/// `timeout` seconds (a hang) is killed and recorded as an issue.
func command(
    _ executable: String, _ arguments: [String], in directory: URL, environment: [String: String] = [:],
    timeout: Double
) throws -> (status: Int32, out: String, err: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.currentDirectoryURL = directory
    var env = ProcessInfo.processInfo.environment
    env["CIFAR10_DIR"] = nil
    env.merge(environment) { $1 }
    process.environment = env
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let pid = process.processIdentifier
    let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
    let outData = out.fileHandleForReading.readDataToEndOfFile(), errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    watchdog.cancel()
    #expect(process.terminationReason == .exit, "\(executable) \(arguments) was killed by a signal (or hung \(Int(timeout)) s)")
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

func temporaryDirectory() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mobilenet-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

func jsonObject(_ text: String) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
        throw EngineError.corruptData("not a JSON object: \(text.prefix(200))")
    }
    return object
}

@Suite(.serialized) struct CLITests {
    static let quick = [
        "--data", "synthetic", "--model", "seed", "--batch-size", "32", "--optimizer", "adam",
        "--schedule", "constant", "--lr", "2e-3", "--normalize", "seed", "--no-augment",
    ]

    @Test func trainLogsCheckpointsAndTheLossFalls() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // SeedNet's Glorot initialisation (the seed's) sits on a plateau for ~120 steps, then falls.
        let r = try mobilenet(
            ["train"] + Self.quick + ["--steps", "240", "--log", "run.jsonl", "--checkpoint", "run.safetensors", "--json"],
            in: dir)
        #expect(r.status == 0, "\(r.err)")
        let summary = try jsonObject(r.out)
        #expect((summary["steps"] as? Int) == 240)
        #expect((summary["macs"] as? Int) == 1_729_536 && (summary["baseline_macs"] as? Int) == 6_788_096)
        let events = try String(contentsOf: dir.appendingPathComponent("run.jsonl"), encoding: .utf8).split(separator: "\n").map {
            try jsonObject(String($0))
        }
        #expect(events.first?["event"] as? String == "start" && events.last?["event"] as? String == "summary")
        let losses = events.filter { $0["event"] as? String == "step" }.compactMap { $0["loss"] as? Double }
        #expect(losses.count >= 3)
        let (first, last) = (try #require(losses.first), try #require(losses.last))
        #expect(last < first - 0.1, "loss \(losses)")
        #expect(events.contains { $0["event"] as? String == "eval" })
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("run.safetensors").path))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("run.best.safetensors").path))
        #expect(r.err.contains("240/240"), "progress lines: \(r.err)")
    }

    /// 60 steps straight against 40 steps, then --resume for the other 20: identical checkpoints.
    @Test func resumeContinuesExactly() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(
            try mobilenet(["train"] + Self.quick + ["--steps", "60", "--checkpoint", "straight.safetensors"], in: dir).status == 0
        )
        #expect(
            try mobilenet(["train"] + Self.quick + ["--steps", "40", "--checkpoint", "part.safetensors"], in: dir).status == 0)
        let resumed = try mobilenet(
            [
                "train", "--data", "synthetic", "--steps", "60", "--resume", "part.safetensors", "--checkpoint",
                "resumed.safetensors",
            ], in: dir)
        #expect(resumed.status == 0, "\(resumed.err)")
        #expect(resumed.err.contains("resuming at step 40"))
        let a = try SafeTensors(contentsOf: dir.appendingPathComponent("straight.safetensors"))
        let b = try SafeTensors(contentsOf: dir.appendingPathComponent("resumed.safetensors"))
        #expect(a.entries == b.entries, "weights, buffers or optimizer state differ after resuming")
        #expect(a.metadata["run.position"] == b.metadata["run.position"])
    }

    /// The recipe with every option tried for it (Nesterov, decay on weights only, Cutout, the weight
    /// average, flipped evaluation) on a small model: the start lines name them, the checkpoint records
    /// the recipe, a resumed run ends bit for bit where a straight one does (averages included), and
    /// `eval --flip-tta` of the checkpoint (whose weights for evaluation are the averages) measures
    /// exactly the accuracy the run's last evaluation logged.
    @Test func recipeRunsResumeExactlyAndEvaluateTheirAverages() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let recipe = [
            "train", "--recipe", "cifar10-fast", "--data", "synthetic", "--alpha", "0.25", "--batch-size", "32",
            "--warmup", "10", "--eval-every", "20", "--weight-decay-on", "weights", "--cutout", "8", "--ema", "0.999",
            "--nesterov",
            // The one-cycle line depends on the run's length, so a shorter first part would train at other
            // rates; a constant rate after the warm-up lets a 24-step run be the first part of a 40-step one.
            "--schedule", "constant",
        ]
        let straight = try mobilenet(
            recipe + ["--steps", "40", "--checkpoint", "straight.safetensors", "--log", "straight.jsonl"], in: dir)
        #expect(straight.status == 0, "\(straight.err)")
        #expect(straight.err.contains("recipe cifar10-fast, Nesterov, weight decay 0.0005 on weights only"), "\(straight.err)")
        #expect(straight.err.contains("Cutout 8, evaluated with a weight average (EMA 0.999), flip TTA"))
        #expect(try mobilenet(recipe + ["--steps", "24", "--checkpoint", "part.safetensors"], in: dir).status == 0)
        let resumed = try mobilenet(
            [
                "train", "--data", "synthetic", "--steps", "40", "--resume", "part.safetensors", "--checkpoint",
                "resumed.safetensors",
            ],
            in: dir)
        #expect(resumed.status == 0, "\(resumed.err)")
        let a = try SafeTensors(contentsOf: dir.appendingPathComponent("straight.safetensors"))
        let b = try SafeTensors(contentsOf: dir.appendingPathComponent("resumed.safetensors"))
        #expect(a.entries.keys.contains("ema.0.weight") && a.metadata["run.recipe"] == "cifar10-fast")
        #expect(a.entries == b.entries, "weights, averages or optimizer state differ after resuming")

        let log = try String(contentsOf: dir.appendingPathComponent("straight.jsonl"), encoding: .utf8)
        let lastEval = try #require(
            log.split(separator: "\n").compactMap { try? jsonObject(String($0)) }.last { $0["event"] as? String == "eval" })
        let eval = try mobilenet(
            [
                "eval", "--checkpoint", "straight.safetensors", "--data", "synthetic", "--flip-tta", "--batch-size", "32",
                "--json",
            ], in: dir)
        #expect(eval.status == 0, "\(eval.err)")
        #expect(try jsonObject(eval.out)["accuracy"] as? Double == lastEval["test_accuracy"] as? Double)
    }

    /// Time to accuracy: the first evaluation at or above 80%, 85%, 90% and 93% is an
    /// `accuracy_reached` event, the summary lists them, `plot` draws accuracy against minutes, and a
    /// resumed run does not report again what the run had reached before.
    @Test func timeToAccuracyIsLoggedSummarisedAndPlotted() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // SeedNet learns the synthetic set to about 90% in 900 steps of 32 (SyntheticShapesTrainingTests).
        let recipe = [
            "train", "--data", "synthetic", "--model", "seed", "--batch-size", "32", "--optimizer", "adam", "--lr", "2e-3",
            "--schedule", "constant", "--normalize", "seed", "--no-augment", "--eval-every", "100",
        ]
        let r = try mobilenet(
            recipe + ["--steps", "900", "--log", "run.jsonl", "--checkpoint", "run.safetensors", "--json"], in: dir)
        #expect(r.status == 0, "\(r.err)")
        let events = try String(contentsOf: dir.appendingPathComponent("run.jsonl"), encoding: .utf8).split(separator: "\n").map {
            try jsonObject(String($0))
        }
        let evals = events.filter { $0["event"] as? String == "eval" }
        let reached = events.filter { $0["event"] as? String == "accuracy_reached" }
        let thresholds = reached.compactMap { $0["threshold"] as? Double }
        #expect(!thresholds.isEmpty && thresholds == thresholds.sorted(), "\(thresholds)")
        for event in reached {
            let threshold = try #require(event["threshold"] as? Double), step = try #require(event["step"] as? Int)
            let first = evals.first { ($0["test_accuracy"] as? Double ?? 0) >= threshold }
            #expect(first?["step"] as? Int == step, "the first evaluation at \(threshold) is not step \(step)")
            #expect((event["test_accuracy"] as? Double ?? 0) >= threshold)
        }
        let summary = try jsonObject(r.out)
        let listed = (summary["time_to_accuracy"] as? [[String: Any]] ?? []).compactMap { $0["threshold"] as? Double }
        #expect(listed == thresholds)
        let plot = try mobilenet(["plot", "run.jsonl", "--output", "plots"], in: dir)
        #expect(plot.status == 0, "\(plot.err)")
        let chart = try String(contentsOf: dir.appendingPathComponent("plots/accuracy-vs-time.svg"), encoding: .utf8)
        #expect(chart.contains("<polyline") && chart.contains("minutes"))

        // Resumed past what it reached (80% at least, as checked above; where depends on the OpenBLAS
        // kernels): the second process reports only what it reaches itself.
        let resumed = try mobilenet(
            ["train", "--resume", "run.safetensors", "--steps", "1000", "--log", "resumed.jsonl", "--json"], in: dir)
        #expect(resumed.status == 0, "\(resumed.err)")
        let again = try String(contentsOf: dir.appendingPathComponent("resumed.jsonl"), encoding: .utf8)
        for threshold in thresholds {
            #expect(!again.contains(#""threshold":\#(threshold),"#), "\(threshold) reported again after the resume: \(again)")
        }
    }

    @Test func evalPredictSummaryAndPlot() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(
            try mobilenet(
                ["train"] + Self.quick + ["--steps", "30", "--checkpoint", "m.safetensors", "--log", "m.jsonl"], in: dir
            ).status == 0)

        let eval = try mobilenet(
            ["eval", "--checkpoint", "m.safetensors", "--data", "synthetic", "--json", "--logits", "logits.npy"], in: dir)
        #expect(eval.status == 0, "\(eval.err)")
        let e = try jsonObject(eval.out)
        let confusion = e["confusion"] as? [[Int]] ?? []
        #expect(confusion.count == 10 && confusion.joined().reduce(0, +) == 2000)
        #expect((e["accuracy"] as? Double).map { $0 >= 0 && $0 <= 1 } == true)
        #expect(e["test_time_augmentation"] as? String == "none")
        let flipped = try mobilenet(
            ["eval", "--checkpoint", "m.safetensors", "--data", "synthetic", "--flip-tta", "--json"], in: dir)
        #expect(flipped.status == 0, "\(flipped.err)")
        let f = try jsonObject(flipped.out)
        #expect(f["test_time_augmentation"] as? String == "flip" && f["images"] as? Int == 2000)
        let npy = [UInt8](try Data(contentsOf: dir.appendingPathComponent("logits.npy")))
        #expect(npy.count == 128 + 2000 * 10 * 4 && String(decoding: npy[1..<6], as: UTF8.self) == "NUMPY")
        #expect(String(decoding: npy[10..<128], as: UTF8.self).contains("'shape': (2000, 10)"))
        let text = try mobilenet(["eval", "--checkpoint", "m.safetensors", "--data", "synthetic"], in: dir)
        #expect(text.out.contains("confusion matrix") && text.out.contains("circle"))

        // A 40×20 grey PGM and a file of two CIFAR records.
        try Data(Array("P5\n# a comment\n40 20\n255\n".utf8) + [UInt8](repeating: 200, count: 800)).write(
            to: dir.appendingPathComponent("grey.pgm"))
        try Data([UInt8](repeating: 3, count: 2 * 3073)).write(to: dir.appendingPathComponent("two.bin"))
        let predict = try mobilenet(["predict", "--checkpoint", "m.safetensors", "--topk", "2", "grey.pgm", "two.bin"], in: dir)
        #expect(predict.status == 0, "\(predict.err)")
        let lines = predict.out.split(separator: "\n")
        #expect(lines.count == 3 && lines[0].hasPrefix("grey.pgm:") && lines[2].hasPrefix("two.bin#1:"))
        #expect(lines[1].contains("(label: ring)"))

        let summary = try mobilenet(
            ["summary", "--model", "mobilenet", "--resolution", "224", "--stem", "imagenet", "--classes", "1000", "--json"],
            in: dir)
        let s = try jsonObject(summary.out)
        #expect(s["macs"] as? Int == 568_740_352)
        #expect(s["baseline_params"] as? Int == 29_282_120)
        #expect((s["layers"] as? [Any])?.isEmpty == false && (s["baseline_layers"] as? [Any])?.isEmpty == false)
        // Every JSON output says which model it describes, in one vocabulary.
        let configuration = s["configuration"] as? [String: Any] ?? [:]
        #expect(
            configuration["family"] as? String == "mobilenet" && configuration["resolution"] as? Int == 224
                && configuration["stem"] as? String == "imagenet" && configuration["classes"] as? Int == 1000
                && configuration["width_multiplier"] as? Double == 1 && configuration["standard"] as? Bool == false)
        #expect((e["configuration"] as? [String: Any])?["family"] as? String == "seed")
        #expect((s["macs_ratio"] as? Double).map { abs($0 - 0.11685) < 1e-4 } == true)
        let table = try mobilenet(["summary", "--model", "seed"], in: dir)
        #expect(table.out.contains("MACs ratio 0.2548") && table.out.contains("1/N+1/Dk²"))

        // A finished standard-convolution run is drawn at the baseline's cost, not the separable model's.
        let standardLog = #"""
            {"event":"start","model":"SeedNet (standard conv)","step":0,"steps":10,"steps_per_epoch":10,"batch_size":8,"macs":1729536,"params":11530,"baseline_macs":6788096,"baseline_params":43018,"data":"synthetic","threads":1}
            {"event":"summary","model":"SeedNet (standard conv)","standard":true,"test_accuracy":0.7,"best_accuracy":0.7,"steps":10,"wall_time":1,"images_per_second":80,"macs":1729536,"params":11530,"baseline_macs":6788096,"baseline_params":43018}
            """#
        try Data(standardLog.utf8).write(to: dir.appendingPathComponent("standard.jsonl"))
        let plot = try mobilenet(["plot", "m.jsonl", "standard.jsonl", "--output", "plots"], in: dir)
        #expect(plot.status == 0, "\(plot.err)")
        for name in ["training-curves.svg", "accuracy-vs-macs.svg"] {
            let url = dir.appendingPathComponent("plots/\(name)")
            let parser = XMLParser(contentsOf: url)
            #expect(parser?.parse() == true, "\(name) is not well-formed XML")
            let svg = try String(contentsOf: url, encoding: .utf8)
            #expect(svg.contains("<svg") && (svg.contains("<polyline") || svg.contains("<circle")))
        }
        let bubbles = try String(contentsOf: dir.appendingPathComponent("plots/accuracy-vs-macs.svg"), encoding: .utf8)
        #expect(bubbles.contains("SeedNet (standard conv), 43.0k params") && bubbles.contains("SeedNet, 11.5k params"))
    }

    /// MobileNet's batch norms after a depthwise layer hand their input gradient to it in backward;
    /// the bench marks exactly those rows, in the table and in the JSON, so their time is read as
    /// counted in the depthwise row.
    @Test func benchMarksTheBatchNormsWhoseInputGradientTheDepthwiseLayerComputes() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let arguments = [
            "bench", "--model", "mobilenet", "--alpha", "0.25", "--batch-size", "4", "--repeats", "1", "--threads", "1",
        ]
        let r = try mobilenet(arguments + ["--json"], in: dir)
        #expect(r.status == 0, "\(r.err)")
        let results = try jsonObject(r.out)["results"] as? [[String: Any]] ?? []
        let layers = results.first?["layers"] as? [[String: Any]] ?? []
        let marked = layers.indices.filter { layers[$0]["input_gradient_by_previous"] as? Bool == true }
        let afterDepthwise = layers.indices.dropFirst().filter {
            layers[$0]["kind"] as? String == "bn" && layers[$0 - 1]["kind"] as? String == "dw"
        }
        #expect(afterDepthwise.count == 13 && marked == afterDepthwise)
        #expect(layers.allSatisfy { $0["input_gradient_by_previous"] is Bool })
        let text = try mobilenet(arguments, in: dir)
        #expect(text.status == 0 && text.out.contains("4 bn†") && text.out.contains("† its input gradient"))
    }

    @Test func benchReportsEveryLayerBesideOpenBLAS() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try mobilenet(
            [
                "bench", "--model", "seed", "--batch-size", "8", "--repeats", "2", "--compare-standard", "--threads", "1",
                "--json",
            ], in: dir)
        #expect(r.status == 0, "\(r.err)")
        let object = try jsonObject(r.out)
        let results = object["results"] as? [[String: Any]] ?? []
        #expect(results.count == 2)
        let layers = results.first?["layers"] as? [[String: Any]] ?? []
        #expect(layers.count == 23)
        #expect(results.allSatisfy { $0["threads"] as? Int == 1 })
        #expect(
            layers.filter { $0["kind"] as? String == "pw" }.allSatisfy {
                ($0["fraction_of_sgemm"] as? Double).map { $0 > 0 } == true
            })
        #expect((results.first?["train_images_per_second"] as? Double).map { $0 > 0 } == true)
        #expect(
            results.first?["macs"] as? Int == 1_729_536
                && (results.first?["configuration"] as? [String: Any])?["family"] as? String == "seed")
        #expect((object["macs_ratio"] as? Double).map { abs($0 - 0.2548) < 1e-3 } == true)
        // --compare-standard: the measured wall-clock ratios beside the MACs ratio.
        #expect(["train_time_ratio", "inference_time_ratio"].allSatisfy { (object[$0] as? Double).map { $0 > 0 } == true })
        // Depthwise layers report their rate and the bytes behind their effective bandwidth.
        let depthwise = layers.filter { $0["kind"] as? String == "dw" }
        #expect(
            depthwise.count == 4
                && depthwise.allSatisfy { layer in
                    ["forward_gflops", "backward_gflops", "forward_bytes", "backward_bytes"].allSatisfy {
                        (layer[$0] as? Double).map { $0 > 0 } ?? (layer[$0] as? Int).map { $0 > 0 } ?? false
                    }
                })
        #expect((results.first?["peak_resident_bytes"] as? Int).map { $0 > 1_000_000 } == true)
        // The fraction of the machine: lowered work per step (2 × MACs forward, twice that backward but
        // for the first layer's input gradient) over the step's time, beside OpenBLAS's 2048³ rate.
        let first = try #require(results.first)
        let work = layers.enumerated().reduce(0.0) { total, entry in
            total + 2 * Double(entry.element["macs"] as? Int ?? 0) * (entry.offset == 0 ? 2 : 3)
        }
        let achieved = try #require(first["train_gflops"] as? Double) * 1e9 * (first["train_step_seconds"] as? Double ?? 0)
        #expect(abs(achieved - work) <= 1e-6 * work, "\(achieved) FLOPs per step, expected \(work)")
        let machine = try #require(first["machine_sgemm_gflops"] as? Double)
        #expect(
            machine > 0
                && (first["train_fraction_of_machine"] as? Double).map {
                    abs($0 - achieved / 1e9 / (first["train_step_seconds"] as? Double ?? 1) / machine) < 1e-9
                } == true)
        #expect(first["openblas_core"] as? String == BLAS.coreName)
        #expect(first["engine_vector_code"] as? String == VectorCode.name)
        // Every ReLU of the SeedNet follows a convolution, which applies it; nothing else is fused.
        #expect(layers.allSatisfy { ($0["fused_into_previous"] as? Bool) == ($0["kind"] as? String == "relu") })

        // Two algorithms side by side: the plain lowering beside auto's choice.
        let both = try mobilenet(
            [
                "bench", "--model", "seed", "--standard", "--batch-size", "4", "--repeats", "1",
                "--conv-algorithm", "auto", "--conv-algorithm", "im2col", "--json",
            ], in: dir)
        #expect(both.status == 0, "\(both.err)")
        let algorithms = (try jsonObject(both.out)["results"] as? [[String: Any]] ?? []).compactMap {
            $0["conv_algorithm"] as? String
        }
        #expect(algorithms == ["auto", "im2col"])

        // In MobileNet every ReLU follows a batch norm, which applies it.
        let mobile = try mobilenet(
            [
                "bench", "--model", "mobilenet", "--alpha", "0.25", "--batch-size", "4", "--repeats", "1", "--threads", "2",
                "--json",
            ], in: dir)
        #expect(mobile.status == 0, "\(mobile.err)")
        let mobileLayers = (try jsonObject(mobile.out)["results"] as? [[String: Any]])?.first?["layers"] as? [[String: Any]] ?? []
        #expect((try jsonObject(mobile.out)["results"] as? [[String: Any]])?.first?["threads"] as? Int == 2)
        let relus = mobileLayers.filter { $0["kind"] as? String == "relu" }
        #expect(!relus.isEmpty && relus.allSatisfy { $0["fused_into_previous"] as? Bool == true })
    }

    @Test func badArgumentsAreUsageErrorsNotCrashes() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [([String], String)] = [
            (["train", "--data", "synthetic", "--batch-size=-4"], "--batch-size must be positive"),
            (["train", "--data", "synthetic", "--batch-size", "-4"], "--batch-size must be positive, got -4"),
            (["train", "--data", "synthetic", "--model", "resnet"], "resnet"),
            (["train", "--data", "synthetic", "--resume", "missing.safetensors"], "no file at missing.safetensors"),
            (["train", "--data", "synthetic", "--lr=-1"], "--lr must be a positive number"),
            (["train", "--data", "synthetic", "--epochs", "2", "--steps", "3"], "not both"),
            (["train", "--data", "nowhere/cifar"], "nothing at nowhere/cifar"),
            (["eval", "--checkpoint", "missing.safetensors"], "no file at missing.safetensors"),
            (["summary", "--model", "mobilenet", "--alpha", "0"], "width multiplier must be positive"),
            (["predict", "--checkpoint", "missing.safetensors", "x.ppm"], "no file"),
            (["plot", "missing.jsonl"], "no log file"),
        ]
        for (arguments, message) in cases {
            let r = try mobilenet(arguments, in: dir)
            #expect(r.status == 64, "\(arguments): exit \(r.status)")
            #expect(r.err.contains(message), "\(arguments): \(r.err)")
        }
        // No data anywhere: where it looked and what to do.
        let r = try mobilenet(["train", "--steps", "1"], in: dir)
        #expect(r.status != 0)
        #expect(
            r.err.contains("$CIFAR10_DIR") && r.err.contains("mobilenet download") && r.err.contains("--data synthetic"),
            "\(r.err)")
        // eval finds the data its checkpoint recorded.
        #expect(
            try mobilenet(
                ["train", "--data", "synthetic", "--steps", "1", "--batch-size", "8", "--checkpoint", "any.safetensors"], in: dir
            ).status == 0)
        let recorded = try mobilenet(["eval", "--checkpoint", "any.safetensors"], in: dir)
        #expect(recorded.status == 0 && recorded.out.contains("on synthetic shapes"), "\(recorded.err)")
        // A corrupt checkpoint is a clear error.
        try Data("not a checkpoint".utf8).write(to: dir.appendingPathComponent("bad.safetensors"))
        let bad = try mobilenet(["eval", "--checkpoint", "bad.safetensors", "--data", "synthetic"], in: dir)
        #expect(bad.status != 0 && bad.err.contains("bad.safetensors"), "\(bad.err)")
    }
}

/// The terminal's progress line never wraps: an 80-column terminal gets at most 79 characters.
@Suite struct ProgressLineTests {
    @Test(arguments: [40, 80, 120, 200])
    func theLineFitsTheTerminal(_ columns: Int) {
        let detail = "9245 img/s  ETA 0:01  loss 2.301  acc 12.5%  lr 0.002"
        for done in [0, 7, 10_000] {
            let line = ProgressBar.line(done: done, total: 10_000, detail: detail, columns: columns)
            #expect(line.count <= columns - 1, "\(columns) columns: \(line.count) characters")
            #expect(line.contains("\(done)/10000"))
        }
        #expect(ProgressBar.line(done: 5, total: 10, detail: detail, columns: 200).hasSuffix(detail))
    }
}
