import CIFAR
import ConvEngine
import Foundation
import Testing

/// torchvision's transforms, pixel for pixel against the fixtures torchvision made (on Pillow images).
@Suite struct ImageTransformTests {
    static func parameters(_ name: String) throws -> [String: Any] {
        guard let text = ImageFixtures.file.metadata[name],
            let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        else {
            throw EngineError.corruptData("no parameters for \(name)")
        }
        return object
    }

    func expectSame(_ output: RGBImage, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let expected = try ImageFixtures.image(name + ".out")
        #expect(
            output.width == expected.width && output.height == expected.height, "\(name): \(output.width)×\(output.height)",
            sourceLocation: sourceLocation)
        let differing = zip(output.pixels, expected.pixels).filter { $0 != $1 }.count
        #expect(
            differing == 0, "\(name): \(differing) of \(expected.pixels.count) bytes differ from torchvision's",
            sourceLocation: sourceLocation)
    }

    @Test(arguments: ["resize_up", "resize_up_odd", "resize_down", "resize_down_mixed"])
    func resizeMatchesTorchvision(_ name: String) throws {
        let p = try Self.parameters(name)
        let input = try ImageFixtures.image(p["source"] as! String)
        try expectSame(input.resized(width: p["width"] as! Int, height: p["height"] as! Int), name)
    }

    @Test func shorterSideCenterCropAndResizedCropMatchTorchvision() throws {
        let wide = try ImageFixtures.image("wide.rgb")
        try expectSame(ImageTransform.resizeShorterSide(wide, to: 36), "resize_shorter_side")
        try expectSame(ImageTransform.centerCrop(wide, side: 27), "center_crop")
        let p = try Self.parameters("resized_crop")
        try expectSame(
            wide.cropped(left: p["left"] as! Int, top: p["top"] as! Int, width: p["width"] as! Int, height: p["height"] as! Int)
                .resized(width: 24, height: 24), "resized_crop")
    }

    /// The evaluation transforms the loader applies: ImageNet's Resize + CenterCrop, CIFAR's Resize.
    @Test func evaluationPipelinesMatchTorchvision() throws {
        var g = RandomGenerator(seed: 1)
        try expectSame(
            ImageTransform.resizeCenterCrop(side: 32).apply(try ImageFixtures.image("wide.rgb"), generator: &g),
            "eval_pipeline_32")
        try expectSame(
            ImageTransform.resizeCenterCrop(side: 64).apply(try ImageFixtures.image("png_rgb.rgb"), generator: &g),
            "eval_pipeline_64")
        try expectSame(
            ImageTransform.fixedSize(augmentation: nil, side: 96).apply(try ImageFixtures.image("square.rgb"), generator: &g),
            "cifar_to_96")
    }

    /// RandomResizedCrop: every box it draws lies in the image with an area fraction and aspect ratio
    /// in range (up to rounding); when no draw fits, the central crop torchvision falls back to.
    @Test func randomResizedCropDrawsInRangeAndFallsBackAsTorchvision() throws {
        var g = RandomGenerator(seed: 7)
        for _ in 0..<500 {
            let (w, h) = (Int(g.next() % 300) + 20, Int(g.next() % 300) + 20)
            let box = ImageTransform.randomResizedCropBox(
                width: w, height: h, scale: 0.08...1, ratio: 0.75...(4.0 / 3), generator: &g)
            #expect(box.left >= 0 && box.top >= 0 && box.left + box.width <= w && box.top + box.height <= h)
            let area = Double(box.width * box.height) / Double(w * h), aspect = Double(box.width) / Double(box.height)
            #expect(area >= 0.06 && area <= 1.0001 && aspect > 0.7 && aspect < 1.4, "\(w)×\(h): \(box)")
        }
        for name in ["fallback_tall", "fallback_wide", "fallback_square"] {
            let p = try Self.parameters(name), expected = p["box"] as! [Int]
            let box = ImageTransform.randomResizedCropBox(
                width: p["width"] as! Int, height: p["height"] as! Int, scale: 2...3,
                ratio: 0.75...(4.0 / 3), generator: &g)
            #expect([box.left, box.top, box.width, box.height] == expected, "\(name)")
        }
    }
}
