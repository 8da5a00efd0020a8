import ConvEngine
import Foundation

/// Where a data set lives and in which form; `find(at:)` does the detection.
struct CIFARLocation {
    enum Container {
        case directory(URL)
        case archive(URL)
    }

    var variant: CIFARVariant
    var format: CIFARFormat
    var container: Container

    /// The folder names and archive names of the official downloads.
    static let layouts: [(variant: CIFARVariant, format: CIFARFormat, folder: String, archive: String)] = [
        (.cifar10, .binary, "cifar-10-batches-bin", "cifar-10-binary.tar.gz"),
        (.cifar10, .python, "cifar-10-batches-py", "cifar-10-python.tar.gz"),
        (.cifar100, .binary, "cifar-100-binary", "cifar-100-binary.tar.gz"),
        (.cifar100, .python, "cifar-100-python", "cifar-100-python.tar.gz"),
    ]

    /// The file that marks each layout's folder.
    static func marker(_ variant: CIFARVariant, _ format: CIFARFormat) -> String {
        switch (variant, format) {
        case (.cifar10, .binary): return "data_batch_1.bin"
        case (.cifar10, .python): return "data_batch_1"
        case (.cifar100, .binary): return "train.bin"
        case (.cifar100, .python): return "train"
        }
    }

    static func find(at url: URL) throws -> CIFARLocation {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw EngineError.io(missingMessage(url, looked: [url.path]))
        }
        if !isDirectory.boolValue {
            if let layout = layouts.first(where: { url.lastPathComponent == $0.archive }) {
                return CIFARLocation(variant: layout.variant, format: layout.format, container: .archive(url))
            }
            // An archive under another name: look inside to tell which one it is.
            if url.path.hasSuffix(".tar.gz") || url.path.hasSuffix(".tgz") { return try fromArchiveContents(url) }
            throw EngineError.io("\(url.path) is a file, but not a CIFAR .tar.gz archive")
        }
        var looked: [String] = []
        // The folder itself, then its children, then archives beside them.
        for layout in layouts {
            let marker = url.appendingPathComponent(marker(layout.variant, layout.format))
            looked.append(marker.path)
            if fm.fileExists(atPath: marker.path) {
                return CIFARLocation(variant: layout.variant, format: layout.format, container: .directory(url))
            }
        }
        for layout in layouts {
            let folder = url.appendingPathComponent(layout.folder)
            looked.append(folder.path)
            if fm.fileExists(atPath: folder.appendingPathComponent(marker(layout.variant, layout.format)).path) {
                return CIFARLocation(variant: layout.variant, format: layout.format, container: .directory(folder))
            }
        }
        for layout in layouts {
            let archive = url.appendingPathComponent(layout.archive)
            looked.append(archive.path)
            if fm.fileExists(atPath: archive.path) {
                return CIFARLocation(variant: layout.variant, format: layout.format, container: .archive(archive))
            }
        }
        throw EngineError.io(missingMessage(url, looked: looked))
    }

    static func missingMessage(_ url: URL, looked: [String]) -> String {
        """
        no CIFAR data at \(url.path). Looked for:
        \(looked.map { "  " + $0 }.joined(separator: "\n"))
        Get it with `mobilenet download --to \(url.path)` (or unpack an official archive from \
        https://www.cs.toronto.edu/~kriz/cifar.html there), or train offline with `--data synthetic`.
        """
    }

    private static func fromArchiveContents(_ url: URL) throws -> CIFARLocation {
        let files = try ArchiveReader(url: url).files
        for layout in layouts where files.keys.contains("\(layout.folder)/\(marker(layout.variant, layout.format))") {
            return CIFARLocation(variant: layout.variant, format: layout.format, container: .archive(url))
        }
        throw EngineError.corruptData("\(url.path): archive holds no CIFAR folder (expected one of \(layouts.map(\.folder)))")
    }

    /// Reads and validates every file.
    func read() throws -> CIFARDataset {
        let files: FileSource
        let description: String
        switch container {
        case .directory(let url):
            files = .directory(url)
            description = url.path
        case .archive(let url):
            let archive = try ArchiveReader(url: url)
            let folder = Self.layouts.first { $0.variant == variant && $0.format == format }!.folder
            files = .archive(archive, folder: folder)
            description = url.path
        }
        switch format {
        case .binary: return try BinaryBatches.read(variant, from: files, description: description)
        case .python: return try PythonBatches.read(variant, from: files, description: description)
        }
    }
}

/// The files of one layout, from a folder or from inside an archive.
enum FileSource {
    case directory(URL)
    case archive(ArchiveReader, folder: String)

    /// The bytes of `name`, and a path naming it in errors.
    func read(_ name: String) throws -> (bytes: [UInt8], path: String) {
        switch self {
        case .directory(let url):
            let file = url.appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: file.path) else {
                throw EngineError.io("missing or unreadable file \(file.path)")
            }
            return ([UInt8](data), file.path)
        case .archive(let archive, let folder):
            let path = "\(archive.url.path):\(folder)/\(name)"
            guard let bytes = archive.files["\(folder)/\(name)"] else {
                throw EngineError.corruptData("\(archive.url.path): the archive has no \(folder)/\(name)")
            }
            return (Array(bytes), path)
        }
    }
}
