import ConvEngine

/// The binary layout: records of a label byte (CIFAR-100: coarse then fine) and 3,072 pixel bytes.
enum BinaryBatches {
    static let trainFiles10 = (1...5).map { "data_batch_\($0).bin" }

    static func read(_ variant: CIFARVariant, from files: FileSource, description: String) throws -> CIFARDataset {
        switch variant {
        case .cifar10:
            var train = try LabeledImages(pixels: [], labels: [])
            for name in trainFiles10 { train.append(try records(files.read(name), labelBytes: 1, classes: 10)) }
            let test = try records(files.read("test_batch.bin"), labelBytes: 1, classes: 10)
            let names = try classNames(files.read("batches.meta.txt"), expected: 10)
            return CIFARDataset(variant: .cifar10, train: train, test: test, classNames: names, source: description)
        case .cifar100:
            let train = try records(files.read("train.bin"), labelBytes: 2, classes: 100)
            let test = try records(files.read("test.bin"), labelBytes: 2, classes: 100)
            let fine = try classNames(files.read("fine_label_names.txt"), expected: 100)
            let coarse = try classNames(files.read("coarse_label_names.txt"), expected: 20)
            return CIFARDataset(
                variant: .cifar100, train: train, test: test, classNames: fine,
                coarseClassNames: coarse, source: description)
        }
    }

    /// Splits a file into records, checking its size and every label.
    static func records(_ file: (bytes: [UInt8], path: String), labelBytes: Int, classes: Int) throws -> LabeledImages {
        let recordSize = labelBytes + LabeledImages.imageBytes
        let bytes = file.bytes
        guard !bytes.isEmpty, bytes.count % recordSize == 0 else {
            throw EngineError.corruptData(
                "\(file.path): \(bytes.count) bytes is not a whole number of \(recordSize)-byte records (truncated or not a CIFAR batch)"
            )
        }
        let n = bytes.count / recordSize
        var pixels = [UInt8](repeating: 0, count: n * LabeledImages.imageBytes)
        var labels = [Int32](repeating: 0, count: n), coarse = [Int32](repeating: 0, count: labelBytes == 2 ? n : 0)
        bytes.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for i in 0..<n {
                    let record = src.baseAddress! + i * recordSize
                    if labelBytes == 2 { coarse[i] = Int32(record[0]) }
                    labels[i] = Int32(record[labelBytes - 1])
                    (dst.baseAddress! + i * LabeledImages.imageBytes).update(
                        from: record + labelBytes, count: LabeledImages.imageBytes)
                }
            }
        }
        let images = try LabeledImages(pixels: pixels, labels: labels, coarseLabels: coarse)
        try images.validateLabels(classCount: classes, coarseClassCount: labelBytes == 2 ? 20 : nil, source: file.path)
        return images
    }

    /// One class name per line; blank lines are ignored.
    static func classNames(_ file: (bytes: [UInt8], path: String), expected: Int) throws -> [String] {
        let names = String(decoding: file.bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard names.count == expected else {
            throw EngineError.corruptData("\(file.path): expected \(expected) class names, found \(names.count)")
        }
        return names
    }
}
