import CIFAR
import ConvEngine
import Dispatch
import Foundation
import Synchronization

/// Speed of the input pipeline on an image folder: decoding alone, and decoding + transform +
/// normalisation into batches as training runs it (images decoded on the fly).
public struct DataBenchmark {
    /// What it measured.
    public struct Result: Sendable {
        /// Files decoded.
        public var files: Int
        /// Decoding threads.
        public var threads: Int
        /// Images decoded per second (files read from disk, then decoded to RGB).
        public var decodedPerSecond: Double
        /// Images per second delivered as training batches (decoded, RandomResizedCrop or the
        /// fixed-size pipeline, flip, normalised), prefetching on.
        public var batchedPerSecond: Double
        /// The output side of the batches.
        public var side: Int
    }

    /// The training files to decode: the first `limit` of the folder's training set.
    public let files: [String]
    /// Decoding threads.
    public let threads: Int
    /// The side of the batches.
    public let side: Int

    /// Prepares a benchmark of the image folder at `root`.
    ///
    /// - Throws: `EngineError` when `root` is not an image folder.
    public init(root: URL, limit: Int, threads: Int, side: Int) throws {
        try require(limit > 0 && threads > 0 && side > 0, "limit, threads and side must be positive")
        let data = try ImageFolder.load(from: root, memoryBudget: 0)
        guard case .files(let paths) = data.train.storage else {
            throw EngineError.invalidArgument("\(root.path) is not decoded from files")
        }
        files = Array(paths.prefix(limit))
        self.threads = threads
        self.side = side
    }

    /// Runs the measurements (each after one untimed pass, so files are in the page cache).
    public func run() throws -> Result {
        let paths = files, threads = self.threads
        func decodeAll() throws {
            let failure = Mutex<Error?>(nil)
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                for i in stride(from: t, to: paths.count, by: threads) {
                    do {
                        guard let data = FileManager.default.contents(atPath: paths[i]) else {
                            throw EngineError.io("cannot read \(paths[i])")
                        }
                        _ = try ImageDecoder.decode([UInt8](data), source: paths[i])
                    } catch { failure.withLock { $0 = $0 ?? error } }
                }
            }
            if let error = failure.withLock({ $0 }) { throw error }
        }
        try decodeAll()
        let decodeStart = DispatchTime.now().uptimeNanoseconds
        try decodeAll()
        let decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - decodeStart) * 1e-9

        let sizes = try paths.map { path -> (width: Int, height: Int) in
            try ImageDecoder.size(of: [UInt8](FileManager.default.contents(atPath: path) ?? Data()), source: path)
        }
        let set = ImageSet(files: paths, labels: [Int32](repeating: 0, count: paths.count), sizes: sizes)
        let batch = min(32, paths.count)
        let transform = ImageTransform.choose(side: side, fixedSide: set.fixedSide, training: true, augment: true)
        let loader = try BatchLoader(
            images: set,
            options: .init(
                batchSize: batch, transform: transform, normalization: .imagenet,
                decodeThreads: threads))
        var out = [Float](repeating: 0, count: loader.imageFloatsPerBatch), labels = [Int32](repeating: 0, count: batch)
        func epoch() throws {
            for _ in 0..<loader.batchesPerEpoch {
                _ = try out.withUnsafeMutableBufferPointer { o in
                    try labels.withUnsafeMutableBufferPointer { try loader.next(images: o.baseAddress!, labels: $0.baseAddress!) }
                }
            }
        }
        try epoch()
        let batchStart = DispatchTime.now().uptimeNanoseconds
        try epoch()
        let batchSeconds = Double(DispatchTime.now().uptimeNanoseconds - batchStart) * 1e-9
        return Result(
            files: paths.count, threads: threads, decodedPerSecond: Double(paths.count) / decodeSeconds,
            batchedPerSecond: Double(loader.batchesPerEpoch * batch) / batchSeconds, side: side)
    }
}
