import ConvEngine
import Dispatch
import Foundation
import Synchronization

/// Folders of images in torchvision's `ImageFolder` layout: `ROOT/train/<class>/…` and `ROOT/val/`
/// (or `ROOT/test/`) with the same class folders; each class's index is its place among the sorted
/// folder names, and files are found as torchvision finds them (walking each class folder, sorted,
/// keeping its image extensions).
public enum ImageFolder {
    /// The extensions torchvision's `ImageFolder` keeps (compared in lower case). JPEG, PNG and
    /// PPM/PGM are decoded; a file of another kind is an unreadable image.
    public static let extensions: Set<String> = ["jpg", "jpeg", "png", "ppm", "bmp", "pgm", "tif", "tiff", "webp"]

    /// Whether `url` is such a root: a folder with a `train` folder that has a subfolder.
    public static func isRoot(_ url: URL) -> Bool {
        let train = url.appendingPathComponent("train")
        return ((try? subfolders(of: train)) ?? []).isEmpty == false
    }

    /// Loads the folder at `root`.
    ///
    /// Every file's header is read first. When all images decoded fit in `memoryBudget` bytes they
    /// are decoded once (on every core) and kept; otherwise they are decoded as batches need them.
    ///
    /// - Parameters:
    ///   - skipBadImages: leave out (and list) files that cannot be decoded, instead of failing.
    ///   - memoryBudget: the most bytes of decoded pixels kept in memory.
    /// - Throws: `EngineError` for a missing `train` or `val`/`test` folder, a class folder of one
    ///   missing from the other, an empty class, no images at all, or (without `skipBadImages`)
    ///   a file that is not a readable image, naming it.
    public static func load(
        from root: URL, skipBadImages: Bool = false,
        memoryBudget: Int = defaultMemoryBudget
    ) throws -> ImageDataset {
        let trainFolder = root.appendingPathComponent("train")
        guard let evalName = ["val", "test"].first(where: { isDirectory(root.appendingPathComponent($0)) }) else {
            throw EngineError.io("\(root.path): an image folder needs train/ and val/ (or test/) folders; found no val/ or test/")
        }
        let evalFolder = root.appendingPathComponent(evalName)
        let classes = try subfolders(of: trainFolder)
        guard !classes.isEmpty else { throw EngineError.io("\(trainFolder.path) has no class folders") }
        let evalClasses = try subfolders(of: evalFolder)
        if let missing = classes.first(where: { !evalClasses.contains($0) }) {
            throw EngineError.corruptData("\(evalFolder.path) has no folder for class \"\(missing)\", which train/ has")
        }
        if let extra = evalClasses.first(where: { !classes.contains($0) }) {
            throw EngineError.corruptData("\(evalFolder.path)/\(extra) is a class that train/ does not have")
        }
        var skipped: [String] = []
        let train = try loadSplit(trainFolder, classes: classes, skipBadImages: skipBadImages, skipped: &skipped)
        let test = try loadSplit(evalFolder, classes: classes, skipBadImages: skipBadImages, skipped: &skipped)
        let decodedBytes = train.decodedBytes + test.decodedBytes
        let keep = decodedBytes <= memoryBudget
        let sets = try [train, test].map {
            keep
                ? try $0.decodedSet(skipBadImages: skipBadImages, skipped: &skipped)
                : try $0.fileSet(skipBadImages: skipBadImages, skipped: &skipped)
        }
        let note =
            keep
            ? "decoded once and kept in memory (\(megabytes(decodedBytes)))"
            : memoryBudget == 0
                ? "decoded on the fly on background threads, as asked"
                : "decoded on the fly on background threads (\(megabytes(decodedBytes)) decoded would not fit in \(megabytes(memoryBudget)))"
        return ImageDataset(
            kind: .folder, train: sets[0], test: sets[1], classNames: classes,
            source: "image folder \(root.path) (\(evalName)/ for evaluation)", storageNote: note, skipped: skipped)
    }

    /// A quarter of the machine's memory, at most 16 GiB.
    public static var defaultMemoryBudget: Int { Int(min(ProcessInfo.processInfo.physicalMemory / 4, 16 << 30)) }

    /// One split's files, labels and sizes from their headers.
    struct Split {
        var files: [String]
        var labels: [Int32]
        var sizes: [(width: Int, height: Int)]

        var decodedBytes: Int { sizes.reduce(0) { $0 + $1.width * $1.height * 3 } }

        /// Every image decoded, on every core; unreadable ones skipped or an error.
        func decodedSet(skipBadImages: Bool, skipped: inout [String]) throws -> ImageSet {
            let results = Mutex([Result<RGBImage, Error>?](repeating: nil, count: files.count))
            let slices = max(1, min(files.count, 64))
            DispatchQueue.concurrentPerform(iterations: slices) { slice in
                for i in stride(from: slice, to: files.count, by: slices) {
                    let result = Result { () throws -> RGBImage in
                        guard let data = FileManager.default.contents(atPath: files[i]) else {
                            throw EngineError.io("cannot read \(files[i])")
                        }
                        return try ImageDecoder.decode([UInt8](data), source: files[i])
                    }
                    results.withLock { $0[i] = result }
                }
            }
            var images: [RGBImage] = [], kept: [Int32] = []
            for (i, result) in results.withLock({ $0 }).enumerated() {
                switch result! {
                case .success(let image):
                    images.append(image)
                    kept.append(labels[i])
                case .failure(let error):
                    guard skipBadImages else { throw error }
                    skipped.append("\(error)")
                }
            }
            try requireImages(images.count)
            return try ImageSet(images: images, labels: kept)
        }

        /// The files, decoded later; with `skipBadImages`, each decoded once now to leave out bad ones.
        func fileSet(skipBadImages: Bool, skipped: inout [String]) throws -> ImageSet {
            guard skipBadImages else { return ImageSet(files: files, labels: labels, sizes: sizes) }
            let good = Mutex([Bool](repeating: true, count: files.count)), reasons = Mutex([String]())
            DispatchQueue.concurrentPerform(iterations: max(1, min(files.count, 64))) { slice in
                for i in stride(from: slice, to: files.count, by: max(1, min(files.count, 64))) {
                    do {
                        guard let data = FileManager.default.contents(atPath: files[i]) else {
                            throw EngineError.io("cannot read \(files[i])")
                        }
                        _ = try ImageDecoder.decode([UInt8](data), source: files[i])
                    } catch {
                        good.withLock { $0[i] = false }
                        reasons.withLock { $0.append("\(error)") }
                    }
                }
            }
            let keep = good.withLock { $0 }
            skipped += reasons.withLock { $0 }.sorted()
            let indices = files.indices.filter { keep[$0] }
            try requireImages(indices.count)
            return ImageSet(
                files: indices.map { files[$0] }, labels: indices.map { labels[$0] }, sizes: indices.map { sizes[$0] })
        }

        private func requireImages(_ count: Int) throws {
            guard count > 0 else {
                throw EngineError.corruptData(
                    "no readable images left in \(files.first.map { URL(fileURLWithPath: $0).deletingLastPathComponent().deletingLastPathComponent().path } ?? "the folder")"
                )
            }
        }
    }

    /// The image files of each class folder of `folder`, labelled by `classes`, with their sizes.
    static func loadSplit(_ folder: URL, classes: [String], skipBadImages: Bool, skipped: inout [String]) throws -> Split {
        var split = Split(files: [], labels: [], sizes: [])
        for (label, name) in classes.enumerated() {
            let files = imageFiles(in: folder.appendingPathComponent(name))
            guard !files.isEmpty else {
                throw EngineError.corruptData("\(folder.path)/\(name) holds no images (.jpg, .jpeg, .png, …)")
            }
            for file in files {
                do {
                    guard let data = FileManager.default.contents(atPath: file) else {
                        throw EngineError.io("cannot read \(file)")
                    }
                    let size = try ImageDecoder.size(of: [UInt8](data), source: file)
                    split.files.append(file)
                    split.labels.append(Int32(label))
                    split.sizes.append(size)
                } catch {
                    guard skipBadImages else { throw error }
                    skipped.append("\(error)")
                }
            }
        }
        return split
    }

    /// The folders in `url`, sorted by code point as Python sorts them.
    static func subfolders(of url: URL) throws -> [String] {
        guard isDirectory(url) else { throw EngineError.io("\(url.path) is not a folder") }
        let names = try FileManager.default.contentsOfDirectory(atPath: url.path)
        return sortedByCodePoint(names.filter { !$0.hasPrefix(".") && isDirectory(url.appendingPathComponent($0)) })
    }

    /// The image files under `folder`, in the order of torchvision's `make_dataset`: the folders of
    /// `os.walk` sorted by path, each one's files sorted by name.
    static func imageFiles(in folder: URL) -> [String] {
        var folders: [String] = []
        func walk(_ path: String) {
            folders.append(path)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            where isDirectory(URL(fileURLWithPath: path + "/" + name)) {
                walk(path + "/" + name)
            }
        }
        walk(folder.path)
        return sortedByCodePoint(folders).flatMap { path -> [String] in
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            return sortedByCodePoint(names).map { path + "/" + $0 }.filter {
                !isDirectory(URL(fileURLWithPath: $0)) && extensions.contains(URL(fileURLWithPath: $0).pathExtension.lowercased())
            }
        }
    }

    static func sortedByCodePoint(_ names: [String]) -> [String] {
        names.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) { $0.value < $1.value } }
    }

    static func isDirectory(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    static func megabytes(_ bytes: Int) -> String {
        bytes >= 1 << 30 ? String(format: "%.1f GB", Double(bytes) / 1e9) : "\(bytes / 1_000_000) MB"
    }
}
