import ConvEngine
import Crypto
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Fetches the official archives: resumable, verified by MD5, never leaving a partial file under the
/// final name.
public enum CIFARDownload {
    /// One official archive.
    public struct Archive: Sendable {
        /// The file name.
        public var name: String
        /// Where it is published.
        public var url: URL
        /// Its MD5, lower-case hex.
        public var md5: String
        /// Its size in bytes.
        public var size: Int64

        /// Describes an archive (a mirror, or a test server).
        public init(name: String, url: URL, md5: String, size: Int64) {
            (self.name, self.url, self.md5, self.size) = (name, url, md5, size)
        }
    }

    /// The official archives (the data set's web page; MD5s as torchvision and the page list them).
    public static func archive(_ variant: CIFARVariant, _ format: CIFARFormat) -> Archive {
        let base = "https://www.cs.toronto.edu/~kriz/"
        switch (variant, format) {
        case (.cifar10, .binary):
            return Archive(
                name: "cifar-10-binary.tar.gz", url: URL(string: base + "cifar-10-binary.tar.gz")!,
                md5: "c32a1d4ab5d03f1284b67883e8d87530", size: 170_052_171)
        case (.cifar10, .python):
            return Archive(
                name: "cifar-10-python.tar.gz", url: URL(string: base + "cifar-10-python.tar.gz")!,
                md5: "c58f30108f718f92721af3b95e74349a", size: 170_498_071)
        case (.cifar100, .binary):
            return Archive(
                name: "cifar-100-binary.tar.gz", url: URL(string: base + "cifar-100-binary.tar.gz")!,
                md5: "03b5dce01913d631647c71ecec9e9cb8", size: 168_513_733)
        case (.cifar100, .python):
            return Archive(
                name: "cifar-100-python.tar.gz", url: URL(string: base + "cifar-100-python.tar.gz")!,
                md5: "eb9058c3a382ffc7106e4002c42a8d85", size: 169_001_437)
        }
    }

    /// Downloads `archive` into `directory` and returns the file's URL.
    ///
    /// Bytes go to `<name>.part`; if one exists from an interrupted run, the download resumes from its
    /// end with an HTTP Range request (starting over when the server ignores it). When complete, the
    /// MD5 is checked and only then is the file renamed to `<name>`. A file already present under the
    /// final name with the right MD5 is kept as it is.
    ///
    /// - Parameters:
    ///   - progress: called with (bytes so far, total bytes if known) as data arrives.
    /// - Throws: `EngineError.io` for network or file errors, `EngineError.corruptData` for an MD5
    ///   mismatch (the bad file is deleted).
    @discardableResult
    public static func download(
        _ archive: Archive, to directory: URL,
        progress: ((Int64, Int64?) -> Void)? = nil
    ) throws -> URL {
        let fm = FileManager.default
        do { try fm.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw EngineError.io("cannot create \(directory.path): \(error.localizedDescription)")
        }
        let final = directory.appendingPathComponent(archive.name)
        if fm.fileExists(atPath: final.path), (try? md5(of: final)) == archive.md5 { return final }
        let partial = directory.appendingPathComponent(archive.name + ".part")
        try fetch(archive.url, into: partial, progress: progress)
        let digest = try md5(of: partial)
        guard digest == archive.md5 else {
            try? fm.removeItem(at: partial)
            throw EngineError.corruptData(
                "\(archive.url.absoluteString): MD5 \(digest) does not match the published \(archive.md5); the download was deleted, try again"
            )
        }
        guard rename(partial.path, final.path) == 0 else {
            throw EngineError.io("cannot rename \(partial.path) to \(final.path): \(String(cString: strerror(errno)))")
        }
        return final
    }

    /// The MD5 of a file, lower-case hex, read in 4 MiB chunks.
    public static func md5(of url: URL) throws -> String {
        guard let handle = try? FileHandle(forReadingFrom: url) else { throw EngineError.io("cannot read \(url.path)") }
        defer { try? handle.close() }
        var hasher = Insecure.MD5()
        while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Appends the bytes of `url` to `file`, resuming from its current size.
    static func fetch(_ url: URL, into file: URL, progress: ((Int64, Int64?) -> Void)?) throws {
        let fm = FileManager.default
        if !fm.fileExists(atPath: file.path) { _ = fm.createFile(atPath: file.path, contents: nil) }  // a failure surfaces below
        let existing = (try? fm.attributesOfItem(atPath: file.path)[.size] as? Int64) ?? 0
        var request = URLRequest(url: url, timeoutInterval: 60)
        if existing > 0 { request.setValue("bytes=\(existing)-", forHTTPHeaderField: "Range") }
        guard let handle = try? FileHandle(forWritingTo: file) else { throw EngineError.io("cannot write \(file.path)") }
        defer { try? handle.close() }
        let delegate = StreamingDelegate(handle: handle, existing: existing, progress: progress)
        let session = URLSession(configuration: .ephemeral, delegate: delegate, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        session.dataTask(with: request).resume()
        delegate.done.wait()
        if let error = delegate.failure {
            throw EngineError.io(
                "downloading \(url.absoluteString) failed after \(delegate.received) bytes: \(error); run the same command again to resume"
            )
        }
    }
}

/// Writes response bytes to a file as they arrive.
private final class StreamingDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let handle: FileHandle
    let progress: ((Int64, Int64?) -> Void)?
    let done = DispatchSemaphore(value: 0)
    var received: Int64
    var total: Int64?
    var failure: String?

    init(handle: FileHandle, existing: Int64, progress: ((Int64, Int64?) -> Void)?) {
        self.handle = handle
        self.progress = progress
        received = existing
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
    ) {
        guard let http = response as? HTTPURLResponse else {
            completionHandler(.allow)
            return
        }
        switch http.statusCode {
        case 206:
            total = http.expectedContentLength >= 0 ? received + http.expectedContentLength : nil
            _ = try? handle.seekToEnd()
        case 200:
            // The server ignored the range (or there was none): start over.
            received = 0
            try? handle.truncate(atOffset: 0)
            total = http.expectedContentLength >= 0 ? http.expectedContentLength : nil
        default:
            failure = "HTTP status \(http.statusCode)"
            completionHandler(.cancel)
            return
        }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        do { try handle.write(contentsOf: data) } catch {
            failure = "cannot write: \(error.localizedDescription)"
            dataTask.cancel()
            return
        }
        received += Int64(data.count)
        progress?(received, total)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        if let error, failure == nil { failure = error.localizedDescription }
        if failure == nil, let total, received < total { failure = "the connection closed at \(received) of \(total) bytes" }
        try? handle.synchronize()
        done.signal()
    }
}
