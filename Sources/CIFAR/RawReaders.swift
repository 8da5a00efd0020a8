import ConvEngine

/// The data readers on raw bytes, for the fuzzing harness (`Fuzz/`) and the corpus that `make test`
/// replays: each parses untrusted bytes and either returns or throws `EngineError`, never traps.
@_spi(Fuzzing) public enum RawCIFARReaders {
    /// A pickled CIFAR batch, and the same bytes as a pickled `batches.meta`.
    public static func pickle(_ bytes: [UInt8]) {
        _ = try? PythonBatches.batch((bytes, "fuzz"), fine: "labels", coarse: nil, classes: 10)
        _ = try? PythonBatches.batch((bytes, "fuzz"), fine: "fine_labels", coarse: "coarse_labels", classes: 100)
        _ = try? PythonBatches.classNames((bytes, "fuzz"), key: "label_names", expected: 10)
    }

    /// A `.tar.gz` (or a bare tar, when the bytes do not start with gzip's magic), inflated at most
    /// to `inflateLimit` bytes.
    public static func archive(_ bytes: [UInt8], inflateLimit: Int = 64 << 20) {
        if bytes.starts(with: [0x1f, 0x8b]) {
            guard let tar = try? Gzip.decompress(bytes, source: "fuzz", limit: inflateLimit) else { return }
            _ = try? Tar.files(in: tar, source: "fuzz")
        } else {
            _ = try? Tar.files(in: bytes, source: "fuzz")
        }
    }

    /// Binary CIFAR records (both label widths), files of records for `predict`, and PPM/PGM images.
    public static func records(_ bytes: [UInt8]) {
        _ = try? BinaryBatches.records((bytes, "fuzz"), labelBytes: 1, classes: 10)
        _ = try? BinaryBatches.records((bytes, "fuzz"), labelBytes: 2, classes: 100)
        _ = try? BinaryBatches.classNames((bytes, "fuzz"), expected: 10)
        _ = try? ImageFile.records(bytes, source: "fuzz")
        _ = try? ImageFile.decodeNetpbm(bytes, source: "fuzz")
    }

    /// An image file: its header, then the whole decode (JPEG, PNG, PPM/PGM).
    public static func image(_ bytes: [UInt8]) {
        _ = try? ImageDecoder.size(of: bytes, source: "fuzz")
        _ = try? ImageDecoder.decode(bytes, source: "fuzz")
    }

    /// Whether each reader refuses `bytes` with an `EngineError` (for the corpus of known-bad inputs).
    public static func rejects(_ reader: String, _ bytes: [UInt8]) -> Bool {
        func throwsEngineError(_ body: () throws -> Void) -> Bool {
            do {
                try body()
                return false
            } catch is EngineError { return true } catch { return false }
        }
        switch reader {
        case "pickle":
            return throwsEngineError { _ = try PythonBatches.batch((bytes, "corpus"), fine: "labels", coarse: nil, classes: 10) }
        case "archive":
            return throwsEngineError {
                let tar =
                    bytes.starts(with: [0x1f, 0x8b]) ? try Gzip.decompress(bytes, source: "corpus", limit: 64 << 20) : bytes
                _ = try Tar.files(in: tar, source: "corpus")
            }
        case "images": return throwsEngineError { _ = try ImageDecoder.decode(bytes, source: "corpus") }
        case "records":
            return throwsEngineError { _ = try BinaryBatches.records((bytes, "corpus"), labelBytes: 1, classes: 10) }
                && throwsEngineError { _ = try ImageFile.decodeNetpbm(bytes, source: "corpus") }
        default: return false
        }
    }
}
