import ConvEngine
import Foundation
import Testing

/// Training, evaluation and prediction on the user's own images (torchvision's ImageFolder layout).
@Suite(.serialized) struct ImageFolderCLITests {
    /// A folder of PPM images (any image file the engine decodes; JPEG and PNG are covered by the
    /// library's tests, which write them with libjpeg-turbo and by hand): 3 classes, 6 training and
    /// 2 validation images each, of `sizes`.
    func folder(in dir: URL, sizes: [(Int, Int)]) throws -> URL {
        let root = dir.appendingPathComponent("pets")
        for (c, name) in ["cat", "dog", "emu"].enumerated() {
            for (split, count) in [("train", 6), ("val", 2)] {
                let classFolder = root.appendingPathComponent("\(split)/\(name)")
                try FileManager.default.createDirectory(at: classFolder, withIntermediateDirectories: true)
                for i in 0..<count {
                    let (w, h) = sizes[(i + c) % sizes.count]
                    let pixels = (0..<(w * h * 3)).map {
                        UInt8(truncatingIfNeeded: c * 80 + ($0 / 3 % w) * 2 + i * 9 + $0 % 3 * 30)
                    }
                    try Data(Array("P6\n\(w) \(h)\n255\n".utf8) + pixels).write(
                        to: classFolder.appendingPathComponent("\(i).ppm"))
                }
            }
        }
        return root
    }

    @Test func trainEvalAndPredictOnAnImageFolder() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let root = try folder(in: dir, sizes: [(24, 24)])
        let train = try mobilenet(
            [
                "train", "--data", root.path, "--steps", "6", "--batch-size", "6", "--checkpoint", "pets.safetensors",
                "--optimizer", "adam", "--json",
            ], in: dir)
        #expect(train.status == 0, "\(train.err)")
        #expect(train.err.contains("image folder") && train.err.contains("decoded once and kept in memory"), "\(train.err)")
        #expect(train.err.contains("RandomCrop(padding=3)"), "fixed-size images take CIFAR's pipeline: \(train.err)")
        // eval finds the folder the checkpoint recorded and names the classes.
        let eval = try mobilenet(["eval", "--checkpoint", "pets.safetensors"], in: dir)
        #expect(eval.status == 0 && eval.out.contains("emu") && eval.out.contains("6 test images"), "\(eval.out) \(eval.err)")
        let predict = try mobilenet(
            [
                "predict", "--checkpoint", "pets.safetensors", "--json",
                root.appendingPathComponent("val/dog/0.ppm").path,
            ], in: dir)
        #expect(predict.status == 0, "\(predict.err)")
        #expect(["cat", "dog", "emu"].contains { predict.out.contains("\"\($0)\"") }, "\(predict.out)")
        // JPEG and PNG files (the committed fixtures, made by Pillow), of another size than the model's.
        let fixtures = try SafeTensors(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Fixtures/images.safetensors"))
        for (name, file) in [("photo.jpg", "jpeg_420.file"), ("drawing.png", "png_palette.file")] {
            try Data(fixtures.entries[file]?.bytes ?? []).write(to: dir.appendingPathComponent(name))
        }
        let files = try mobilenet(["predict", "--checkpoint", "pets.safetensors", "photo.jpg", "drawing.png"], in: dir)
        #expect(
            files.status == 0 && files.out.hasPrefix("photo.jpg: ") && files.out.contains("\ndrawing.png: "),
            "\(files.out) \(files.err)")

        // A corrupt file stops training, naming it; --skip-bad-images leaves it out and says so.
        try Data("P6\n24 24\n255\n".utf8 + [1, 2, 3]).write(to: root.appendingPathComponent("train/dog/9.ppm"))
        let stopped = try mobilenet(["train", "--data", root.path, "--steps", "2", "--batch-size", "6"], in: dir)
        #expect(
            stopped.status == 1 && stopped.err.contains("train/dog/9.ppm") && stopped.err.contains("truncated"), "\(stopped.err)")
        let skipped = try mobilenet(
            ["train", "--data", root.path, "--steps", "2", "--batch-size", "6", "--skip-bad-images", "--json"], in: dir)
        #expect(skipped.status == 0, "\(skipped.err)")
        #expect(try jsonObject(skipped.out)["skipped_images"] as? Int == 1)
        #expect(skipped.err.contains("1 unreadable file(s) skipped"), "\(skipped.err)")
    }

    /// Images of varying sizes take ImageNet's pipeline (RandomResizedCrop; Resize + CenterCrop to
    /// evaluate) at the model's resolution, here MobileNet with the ImageNet stem at 64, decoded on
    /// the fly.
    @Test func aFolderOfVaryingSizesTrainsAtTheModelsResolution() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let root = try folder(in: dir, sizes: [(40, 30), (25, 50), (64, 64)])
        let r = try mobilenet(
            [
                "train", "--data", root.path, "--model", "mobilenet", "--alpha", "0.25", "--stem", "imagenet",
                "--resolution", "64", "--steps", "3", "--batch-size", "6", "--decode-on-the-fly", "--json",
            ], in: dir)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.contains("RandomResizedCrop(64") && r.err.contains("decoded on the fly"), "\(r.err)")
        #expect((try jsonObject(r.out)["data_wait_fraction"] as? Double).map { $0 >= 0 && $0 <= 1 } == true)
    }
}
