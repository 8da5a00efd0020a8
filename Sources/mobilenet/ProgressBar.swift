import Foundation

/// A progress line on standard error: redrawn in place on a terminal (at most ten times a second),
/// or printed as plain lines every 10% (and at least every 30 s) when the output is a file or pipe.
final class ProgressBar {
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private var lastDraw = Date.distantPast
    private var lastPlainFraction = -1.0
    private var lastPlainTime = Date()
    private var drawn = false

    /// Shows `done` of `total` with `detail` after the bar; `detail` is only built when a line is drawn.
    func update(done: Int, total: Int, detail: @autoclosure () -> String) {
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let now = Date()
        if isTerminal {
            guard done == total || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
            lastDraw = now
            let width = 24, filled = Int(fraction * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            FileHandle.standardError.write(Data("\r\u{1B}[K\(bar) \(done)/\(total)  \(detail())".utf8))
            drawn = true
        } else if fraction - lastPlainFraction >= 0.1 || now.timeIntervalSince(lastPlainTime) >= 30 || done == total {
            lastPlainFraction = fraction
            lastPlainTime = now
            FileHandle.standardError.write(Data("[\(String(format: "%3d", Int(fraction * 100)))%] \(done)/\(total)  \(detail())\n".utf8))
        }
    }

    /// Ends the in-place line so that the next output starts on a fresh line.
    func finishLine() {
        if isTerminal && drawn { FileHandle.standardError.write(Data("\n".utf8)) }
        drawn = false
    }
}
