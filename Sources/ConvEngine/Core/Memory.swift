import Foundation

/// The machine's memory, against which every allocation that input can size is checked first: a
/// request that could never succeed is an error with the amount in it, never a failed allocation
/// (which would end the process).
public enum Memory {
    /// The machine's physical memory in bytes.
    public static var physicalBytes: UInt64 { ProcessInfo.processInfo.physicalMemory }

    /// "1.5 GiB", "300 MiB".
    public static func describe(_ bytes: Int) -> String {
        bytes >= 1 << 30 ? String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) : "\(bytes >> 20) MiB"
    }

    /// Throws unless `floats` floats fit in the machine's memory.
    ///
    /// - Parameter what: names the allocation in the message.
    public static func requireFits(floats: Int, _ what: @autoclosure () -> String) throws {
        let (bytes, overflow) = floats.multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        guard !overflow, floats >= 0, UInt64(bytes) <= physicalBytes else {
            throw EngineError.invalidArgument(
                "\(what()) needs \(overflow ? "more than can be counted" : describe(bytes)) of memory, more than the \(describe(Int(clamping: physicalBytes))) this machine has"
            )
        }
    }
}
