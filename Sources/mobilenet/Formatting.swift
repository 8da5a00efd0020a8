import Foundation
import MobileNetCPU

/// Formats seconds as m:ss or h:mm:ss.
func clock(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "--:--" }
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}

/// A count for people: "4.21 M", "11.5k", or the plain number below ten thousand.
func millions(_ n: Int) -> String {
    if n >= 1_000_000 { return String(format: "%.2f M", Double(n) / 1e6) }
    if n >= 10_000 { return String(format: "%.1fk", Double(n) / 1e3) }
    return "\(n)"
}

/// Writes a line to standard error.
func note(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }

/// JSON text of a value made of dictionaries, arrays, strings, numbers and booleans. Non-finite
/// numbers (a diverged loss) are written as the strings "NaN", "Infinity" and "-Infinity", as in
/// the training log, since JSON has no numbers for them.
func jsonText(_ object: Any) throws -> String {
    func finite(_ value: Any) -> Any {
        switch value {
        case let d as Double where !d.isFinite: return d.isNaN ? "NaN" : (d > 0 ? "Infinity" : "-Infinity")
        case let f as Float where !f.isFinite: return finite(Double(f))
        case let dictionary as [String: Any]: return dictionary.mapValues(finite)
        case let array as [Any]: return array.map(finite)
        default: return value
        }
    }
    let data = try JSONSerialization.data(withJSONObject: finite(object), options: [.prettyPrinted, .sortedKeys])
    return String(decoding: data, as: UTF8.self)
}

/// JSON text of a report (keys in snake_case, sorted; non-finite numbers as strings, as in the log).
func jsonText<T: Encodable>(_ value: T) throws -> String {
    let encoder = RunEvent.makeEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

/// A Codable value as the dictionaries and arrays `jsonText` takes, keys in snake_case.
func jsonValue<T: Encodable>(_ value: T) throws -> Any {
    try JSONSerialization.jsonObject(with: RunEvent.makeEncoder().encode(value))
}
