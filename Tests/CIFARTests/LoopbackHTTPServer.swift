import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal HTTP/1.1 file server on 127.0.0.1 for download tests: serves one payload, honours
/// `Range: bytes=N-` (unless told not to), and can cut its next response short to simulate a dropped
/// connection. It records the Range header of every request.
final class LoopbackHTTPServer: @unchecked Sendable {
    let payload: [UInt8]
    private(set) var port: UInt16 = 0
    private let listener: Int32
    private let lock = NSLock()
    private var _ranges: [String?] = []
    /// Bytes of body to send before closing the next response early (nil: send everything).
    var cutNextResponseAfter: Int?
    /// Whether to ignore Range headers and always answer 200 with the whole payload.
    var ignoreRanges = false

    var requestRanges: [String?] { lock.withLock { _ranges } }

    init(payload: [UInt8]) throws {
        self.payload = payload
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 8) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    var url: URL { URL(string: "http://127.0.0.1:\(port)/archive.tar.gz")! }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            handle(client)
            close(client)
        }
    }

    private func handle(_ client: Int32) {
        var request = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !request.ends(with: Array("\r\n\r\n".utf8)) {
            let n = recv(client, &buffer, buffer.count, 0)
            if n <= 0 { return }
            request += buffer[0..<n]
        }
        let text = String(decoding: request, as: UTF8.self)
        let range = text.split(separator: "\r\n").first { $0.lowercased().hasPrefix("range:") }
            .map { String($0.dropFirst(6)).trimmingCharacters(in: .whitespaces) }
        lock.withLock { _ranges.append(range) }
        var start = 0
        var head: String
        if let range, !ignoreRanges, range.hasPrefix("bytes="), let from = Int(range.dropFirst(6).dropLast()),
            from < payload.count
        {
            start = from
            head = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes \(from)-\(payload.count - 1)/\(payload.count)\r\n"
        } else {
            head = "HTTP/1.1 200 OK\r\n"
        }
        head += "Content-Length: \(payload.count - start)\r\nConnection: close\r\n\r\n"
        var body = Array(payload[start...])
        if let cut = cutNextResponseAfter {
            body = Array(body.prefix(cut))
            cutNextResponseAfter = nil
        }
        let response = Array(head.utf8) + body
        var sent = 0
        while sent < response.count {
            let n = response[sent...].withUnsafeBufferPointer { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }
}

private extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
