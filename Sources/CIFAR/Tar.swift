import ConvEngine

/// A reader for the ustar archives inside the official `.tar.gz` files: regular files by path.
enum Tar {
    /// The regular files of a tar archive, by path (leading "./" removed).
    ///
    /// - Throws: `EngineError.corruptData` for a bad header checksum, a malformed size or an entry that
    ///   runs past the end (a truncated archive).
    static func files(in archive: [UInt8], source: String) throws -> [String: ArraySlice<UInt8>] {
        var files: [String: ArraySlice<UInt8>] = [:]
        var offset = 0
        var longName: String?
        while offset + 512 <= archive.count {
            let header = archive[offset..<(offset + 512)]
            if header.allSatisfy({ $0 == 0 }) { return files }  // end-of-archive marker
            let stored = octal(header, 148, 8)
            var sum = 0
            for (i, byte) in header.enumerated() { sum += (148..<156).contains(i) ? 32 : Int(byte) }
            guard let stored, stored == sum else {
                throw EngineError.corruptData("\(source): tar header at byte \(offset) has a bad checksum")
            }
            guard let size = octal(header, 124, 12) else {
                throw EngineError.corruptData("\(source): tar header at byte \(offset) has a malformed size")
            }
            let dataStart = offset + 512
            guard size <= archive.count - dataStart else {
                throw EngineError.corruptData(
                    "\(source): tar entry at byte \(offset) needs \(size) bytes but the archive ends (truncated?)")
            }
            let type = header[header.startIndex + 156]
            var name =
                longName ?? (string(header, 345, 155).map { $0.isEmpty ? "" : $0 + "/" } ?? "") + (string(header, 0, 100) ?? "")
            longName = nil
            if name.hasPrefix("./") { name.removeFirst(2) }
            switch type {
            case UInt8(ascii: "0"), 0: files[name] = archive[dataStart..<(dataStart + size)]
            case UInt8(ascii: "L"):
                longName = String(decoding: archive[dataStart..<(dataStart + size)].prefix { $0 != 0 }, as: UTF8.self)
            default: break  // directories, links, pax headers
            }
            offset = dataStart + (size + 511) / 512 * 512
        }
        throw EngineError.corruptData("\(source): the tar archive ends without its end marker (truncated?)")
    }

    private static func string(_ header: ArraySlice<UInt8>, _ start: Int, _ length: Int) -> String? {
        let field = header[(header.startIndex + start)..<(header.startIndex + start + length)].prefix { $0 != 0 }
        return String(decoding: field, as: UTF8.self)
    }

    /// A numeric field: octal digits, padded with spaces or NULs (an empty field is 0). Signs and
    /// other characters make it malformed (nil), and so does a value of more than 11 digits, which
    /// ustar cannot write (`Int(_:radix:)` alone would accept "-1").
    private static func octal(_ header: ArraySlice<UInt8>, _ start: Int, _ length: Int) -> Int? {
        let text = string(header, start, length)?.trimmingCharacters(in: " ")
        guard let text, !text.isEmpty else { return 0 }
        guard text.count <= 11, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "7")).contains($0) }) else { return nil }
        return Int(text, radix: 8)
    }
}

private extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return String(s)
    }
}
