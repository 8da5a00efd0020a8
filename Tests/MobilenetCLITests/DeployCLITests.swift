import ConvEngine
import Foundation
import Testing

/// `export`, `import`, and training from imported weights, end to end through the CLI.
@Suite(.serialized) struct DeployCLITests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    @Test func exportRefusesCorruptCheckpointsAndUnwritablePathsLeavingNoFile() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("not a checkpoint at all".utf8).write(to: dir.appendingPathComponent("bad.safetensors"))
        let corrupt = try mobilenet(["export", "--checkpoint", "bad.safetensors", "--output", "m.onnx"], in: dir)
        #expect(corrupt.status != 0 && corrupt.err.contains("bad.safetensors"), "\(corrupt.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("m.onnx").path))

        let state = Self.fixtures.appendingPathComponent("model_seed_state.safetensors").path
        #expect(try mobilenet(["import", "--state-dict", state, "--output", "seed.safetensors"], in: dir).status == 0)
        let unwritable = try mobilenet(["export", "--checkpoint", "seed.safetensors", "--output", "no/such/dir/m.onnx"], in: dir)
        #expect(unwritable.status != 0 && unwritable.err.contains("no/such/dir"), "\(unwritable.err)")
        let written = try mobilenet(["export", "--checkpoint", "seed.safetensors", "--output", "m.onnx", "--json"], in: dir)
        #expect(written.status == 0, "\(written.err)")
        #expect((try jsonObject(written.out)["opset"] as? Int) == 17)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
    }

    @Test func importErrorsNameTheTensorAndWriteNothing() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let state = Self.fixtures.appendingPathComponent("model_mobilenet_0.125_cifar_state.safetensors").path
        let wrong = try mobilenet(
            ["import", "--state-dict", state, "--model", "mobilenet", "--alpha", "0.25", "--output", "m.safetensors"], in: dir)
        #expect(
            wrong.status != 0
                && wrong.err.contains("tensor \"6.weight\" has shape [8, 8, 1, 1], the network needs [16, 8, 1, 1]"),
            "\(wrong.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("m.safetensors").path))
        let both = try mobilenet(["import", "--state-dict", state, "--onnx", state, "--output", "m.safetensors"], in: dir)
        #expect(both.status != 0 && both.err.contains("one of them"))
        let notONNX = try mobilenet(["import", "--onnx", state, "--output", "m.safetensors"], in: dir)
        #expect(notONNX.status != 0 && notONNX.err.contains("not an ONNX model"), "\(notONNX.err)")
    }

    /// An imported checkpoint is evaluated, exported, imported back, and trained from with
    /// `train --resume`, which starts a new run at step 0 from its weights.
    @Test func importedWeightsAreEvaluatedExportedAndTrainedFrom() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let state = Self.fixtures.appendingPathComponent("model_mobilenet_0.125_cifar_state.safetensors").path
        let names = "circle,square,triangle,ring,frame,horizontal bar,vertical bar,plus,cross,diamond"
        let imported = try mobilenet(
            [
                "import", "--state-dict", state, "--model", "mobilenet", "--alpha", "0.125", "--class-names", names,
                "--output", "pt.safetensors",
            ], in: dir)
        #expect(imported.status == 0, "\(imported.err)")
        let eval = try mobilenet(["eval", "--checkpoint", "pt.safetensors", "--data", "synthetic", "--json"], in: dir)
        #expect(eval.status == 0, "\(eval.err)")
        #expect(try jsonObject(eval.out)["accuracy"] is Double)

        #expect(try mobilenet(["export", "--checkpoint", "pt.safetensors", "--output", "pt.onnx"], in: dir).status == 0)
        let back = try mobilenet(["import", "--onnx", "pt.onnx", "--output", "back.safetensors"], in: dir)
        #expect(back.status == 0, "\(back.err)")

        let train = try mobilenet(
            [
                "train", "--resume", "back.safetensors", "--data", "synthetic", "--steps", "3", "--batch-size", "16",
                "--checkpoint", "tuned.safetensors", "--json",
            ], in: dir)
        #expect(train.status == 0, "\(train.err)")
        #expect(train.err.contains("starting from the weights in back.safetensors"), "\(train.err)")
        #expect(train.err.contains("MobileNet 0.125 cifar-32"))
        #expect((try jsonObject(train.out)["steps"] as? Int) == 3)
        let tuned = try SafeTensors(contentsOf: dir.appendingPathComponent("tuned.safetensors"))
        #expect(tuned.metadata["run.step"] == "3")
        let original = try SafeTensors(contentsOf: dir.appendingPathComponent("back.safetensors"))
        #expect(original.metadata["run.step"] == nil, "the imported file is not overwritten")

        let conflict = try mobilenet(
            ["train", "--resume", "back.safetensors", "--data", "synthetic", "--steps", "3", "--model", "seed"], in: dir)
        #expect(conflict.status != 0 && conflict.err.contains("the checkpoint holds MobileNet 0.125"), "\(conflict.err)")
    }
}
