import ConvEngine
import Foundation
import Testing

@Suite struct SafeTensorsTests {
    func sample() throws -> SafeTensors {
        var file = SafeTensors()
        try file.setFloats("conv.weight", shape: [2, 1, 3, 3], (0..<18).map { Float($0) / 7 })
        try file.setFloats("conv.bias", shape: [2], [1.5, -2])
        try file.setInt64s("bn.num_batches_tracked", shape: [], [12])
        file.metadata = ["format": "pt"]
        return file
    }

    @Test func roundTripsAndFollowsTheLayoutRules() throws {
        let file = try sample()
        let bytes = file.serialized()
        let headerLength = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        #expect((8 + headerLength) % 8 == 0)
        #expect(bytes[8] == UInt8(ascii: "{"))
        let decoded = try SafeTensors(bytes: bytes)
        #expect(decoded == file)
        #expect(try decoded.int64s("bn.num_batches_tracked").values == [12])
        #expect(try decoded.floats("conv.bias").values == [1.5, -2])
    }

    @Test func atomicWriteLeavesNoTemporaryFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("model.safetensors")
        try sample().write(to: url)
        try sample().write(to: url)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["model.safetensors"])
        #expect(try SafeTensors(contentsOf: url) == sample())
        #expect(throws: EngineError.self) { try sample().write(to: dir.appendingPathComponent("missing/x.safetensors")) }
    }

    /// Builds a file from a raw header and buffer.
    func raw(_ header: String, buffer: Int, declaredLength: UInt64? = nil) -> [UInt8] {
        let json = Array(header.utf8)
        var out = [UInt8]()
        let length = declaredLength ?? UInt64(json.count)
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: length >> (8 * UInt64(i)))) }
        return out + json + [UInt8](repeating: 0, count: buffer)
    }

    @Test func rejectsMalformedFilesWithAReason() throws {
        let valid = try sample().serialized()
        let cases: [(String, [UInt8], String)] = [
            ("too short", [1, 2, 3], "too short"),
            ("truncated buffer", Array(valid.dropLast(4)), "truncated"),
            ("header past the end", raw("{}", buffer: 0, declaredLength: 4096), "runs past the end"),
            ("huge header", raw("{}", buffer: 0, declaredLength: 200_000_000), "100 MB"),
            ("bad JSON", raw("{\"a\": [", buffer: 0), "not valid JSON"),
            ("not an object", raw("[1, 2]", buffer: 0), "start with '{'"),
            ("wrong byte count", raw(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, buffer: 8), "needs 12"),
            (
                "overlap",
                raw(
                    #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                    buffer: 12), "overlaps"
            ),
            ("hole", raw(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, buffer: 8), "hole"),
            ("trailing bytes", raw(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, buffer: 8), "not covered"),
            ("bad dtype", raw(#"{"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}"#, buffer: 4), "unsupported dtype"),
            ("negative shape", raw(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, buffer: 4), "bad shape"),
            ("bad metadata", raw(#"{"__metadata__":{"a":1}}"#, buffer: 0), "__metadata__"),
            ("missing field", raw(#"{"a":{"dtype":"F32","shape":[1]}}"#, buffer: 4), "lacks"),
        ]
        for (label, bytes, reason) in cases {
            do {
                _ = try SafeTensors(bytes: bytes, source: "case.safetensors")
                Issue.record("\(label): accepted")
            } catch let error as EngineError {
                #expect("\(error)".contains(reason) && "\(error)".contains("case.safetensors"), "\(label): \(error)")
            }
        }
        #expect(throws: EngineError.self) { try sample().floats("absent") }
        #expect(throws: EngineError.self) { try sample().floats("bn.num_batches_tracked") }
    }
}
