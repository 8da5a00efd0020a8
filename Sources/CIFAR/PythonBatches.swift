import ConvEngine

/// The Python layout: pickled dicts with `data` (uint8 [N, 3072]) and `labels` (CIFAR-100:
/// `fine_labels` and `coarse_labels`), key order free, in Python 2 or Python 3 pickle forms.
enum PythonBatches {
    static func read(_ variant: CIFARVariant, from files: FileSource, description: String) throws -> CIFARDataset {
        switch variant {
        case .cifar10:
            var train = try LabeledImages(pixels: [], labels: [])
            for i in 1...5 { train.append(try batch(files.read("data_batch_\(i)"), fine: "labels", coarse: nil, classes: 10)) }
            let test = try batch(files.read("test_batch"), fine: "labels", coarse: nil, classes: 10)
            let names = try classNames(files.read("batches.meta"), key: "label_names", expected: 10)
            return CIFARDataset(variant: .cifar10, train: train, test: test, classNames: names, source: description)
        case .cifar100:
            let train = try batch(files.read("train"), fine: "fine_labels", coarse: "coarse_labels", classes: 100)
            let test = try batch(files.read("test"), fine: "fine_labels", coarse: "coarse_labels", classes: 100)
            let meta = try files.read("meta")
            return CIFARDataset(
                variant: .cifar100, train: train, test: test,
                classNames: try classNames(meta, key: "fine_label_names", expected: 100),
                coarseClassNames: try classNames(meta, key: "coarse_label_names", expected: 20),
                source: description)
        }
    }

    static func dictionary(_ file: (bytes: [UInt8], path: String)) throws -> PickleDict {
        let value = try PickleReader.decode(file.bytes, source: file.path)
        guard case .dict(let dict) = value else {
            throw EngineError.corruptData("\(file.path): the pickle holds a \(value.kind), not a dict")
        }
        return dict
    }

    static func batch(_ file: (bytes: [UInt8], path: String), fine: String, coarse: String?, classes: Int) throws -> LabeledImages
    {
        let dict = try dictionary(file)
        guard let data = dict["data"] else {
            throw EngineError.corruptData("\(file.path): the dict has no \"data\" (keys: \(dict.keys))")
        }
        let array = try PickledArray(data, what: "\"data\"", source: file.path)
        guard array.type == "u1" || array.type == "uint8" else {
            throw EngineError.corruptData("\(file.path): \"data\" is numpy \(array.type), not uint8")
        }
        guard array.shape.count == 2, array.shape[1] == LabeledImages.imageBytes else {
            throw EngineError.corruptData("\(file.path): \"data\" has shape \(array.shape), not [N, 3072]")
        }
        let labels = try labelList(dict, fine, file.path, count: array.shape[0])
        let coarseLabels = try coarse.map { try labelList(dict, $0, file.path, count: array.shape[0]) } ?? []
        let images = try LabeledImages(pixels: array.bytes, labels: labels, coarseLabels: coarseLabels)
        try images.validateLabels(classCount: classes, coarseClassCount: coarse == nil ? nil : 20, source: file.path)
        return images
    }

    /// A list of ints (the official form) or an integer numpy array, with one label per image.
    static func labelList(_ dict: PickleDict, _ key: String, _ path: String, count: Int) throws -> [Int32] {
        guard let value = dict[key] else {
            throw EngineError.corruptData("\(path): the dict has no \"\(key)\" (keys: \(dict.keys))")
        }
        var ints: [Int]
        if case .list(let list) = value {
            ints = try list.items.map {
                guard case .int(let v) = $0 else {
                    throw EngineError.corruptData("\(path): \"\(key)\" holds a \($0.kind), not an int")
                }
                return v
            }
        } else {
            ints = try PickledArray(value, what: "\"\(key)\"", source: path).integers()
        }
        guard ints.count == count else {
            throw EngineError.corruptData("\(path): \(ints.count) entries in \"\(key)\" for \(count) images")
        }
        return ints.map { Int32(clamping: $0) }
    }

    static func classNames(_ file: (bytes: [UInt8], path: String), key: String, expected: Int) throws -> [String] {
        let dict = try dictionary(file)
        guard case .list(let list)? = dict[key] else {
            throw EngineError.corruptData("\(file.path): no list \"\(key)\" (keys: \(dict.keys))")
        }
        let names = list.items.compactMap(\.text)
        guard names.count == expected, names.count == list.items.count else {
            throw EngineError.corruptData("\(file.path): expected \(expected) class names in \"\(key)\", found \(names.count)")
        }
        return names
    }
}
