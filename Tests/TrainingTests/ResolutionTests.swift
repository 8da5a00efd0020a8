import CIFAR
import ConvEngine
import ConvModels
import Foundation
import Testing
import Training

/// Every model at every resolution sees the right pixels: CIFAR's 32×32 images resized to the
/// model's input (Pillow's bilinear, as torchvision's Resize) fill the whole input, so every row of
/// a batch's logits differs. (Before, the loader wrote 32×32 floats per image into a larger input:
/// at 64×64 only the first quarter of the batch held images.)
@Suite struct ResolutionTests {
    static let cases: [(ModelFamily, Stem, Int)] = [
        (.seed, .cifar, 32), (.seed, .cifar, 64), (.seed, .cifar, 96),
        (.mobilenet, .cifar, 32), (.mobilenet, .cifar, 64), (.mobilenet, .cifar, 96), (.mobilenet, .cifar, 224),
        (.mobilenet, .imagenet, 32), (.mobilenet, .imagenet, 64), (.mobilenet, .imagenet, 96), (.mobilenet, .imagenet, 224),
    ]

    @Test(arguments: cases)
    func theInputIsTheReferenceResizeAndEveryRowDiffers(_ c: (family: ModelFamily, stem: Stem, resolution: Int)) throws {
        let config = try ModelConfiguration(
            family: c.family, widthMultiplier: c.family == .seed ? 1 : 0.25, resolution: c.resolution,
            stem: c.stem)
        let batch = 6
        let network = try config.makeNetwork(maxBatchSize: batch, seed: 1)
        let data = try SyntheticShapes.dataset(trainCount: batch, testCount: batch, seed: 2)
        // The evaluation transform: resized to the model's side.
        let transform = ImageTransform.choose(side: c.resolution, fixedSide: 32, training: false, augment: false)
        let loader = try BatchLoader(
            images: data.test,
            options: .init(
                batchSize: batch, shuffle: false, transform: transform,
                normalization: .seed))
        #expect(loader.itemShape == config.itemShape.dimensions)
        var labels = [Int32](repeating: 0, count: batch)
        _ = try labels.withUnsafeMutableBufferPointer { try loader.next(images: network.input.data, labels: $0.baseAddress!) }
        let side = c.resolution
        for i in 0..<batch {
            let reference = data.test.pixels.withUnsafeBufferPointer { RGBImage(planarRecord: $0.baseAddress! + i * 3072) }
                .resized(width: side, height: side)
            let input = UnsafeBufferPointer(start: network.input.data + i * side * side * 3, count: side * side * 3)
            // The loader scales by 1/127.5 and shifts by −1, in float.
            #expect(
                zip(input, reference.pixels).allSatisfy { $0 == Float($1) * (1 / 127.5) - 1 },
                "image \(i) is not its reference resize")
        }
        network.eval()
        try network.forward()
        let rows = (0..<batch).map { Array(UnsafeBufferPointer(start: network.output.data + $0 * 10, count: 10)) }
        for i in 0..<batch {
            for j in (i + 1)..<batch { #expect(rows[i] != rows[j], "rows \(i) and \(j) of the logits are equal") }
        }
    }
}
