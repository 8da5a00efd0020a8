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
            let line = Self.line(done: done, total: total, detail: detail(), columns: Self.terminalColumns())
            FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
            drawn = true
        } else if fraction - lastPlainFraction >= 0.1 || now.timeIntervalSince(lastPlainTime) >= 30 || done == total {
            lastPlainFraction = fraction
            lastPlainTime = now
            FileHandle.standardError.write(
                Data("[\(String(format: "%3d", Int(fraction * 100)))%] \(done)/\(total)  \(detail())\n".utf8))
        }
    }

    /// The in-place line: a bar, the count and the detail, cut to `columns − 1` characters so that it
    /// never wraps (a wrapped line leaves a stale copy behind at every redraw); the bar narrows
    /// first, down to 10 cells, then the detail is cut.
    static func line(done: Int, total: Int, detail: String, columns: Int) -> String {
        let fraction = total > 0 ? min(1, max(0, Double(done) / Double(total))) : 1
        let count = " \(done)/\(total)  "
        let room = max(1, columns - 1)
        let width = max(10, min(24, room - count.count - detail.count))
        let filled = Int(fraction * Double(width))
        let full = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled) + count + detail
        return String(full.prefix(room))
    }

    /// The terminal's width (from the terminal, else `$COLUMNS`, else 80).
    static func terminalColumns() -> Int {
        var size = winsize()
        if ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init) ?? 80
    }

    /// Ends the in-place line so that the next output starts on a fresh line.
    func finishLine() {
        if isTerminal && drawn { FileHandle.standardError.write(Data("\n".utf8)) }
        drawn = false
    }
}
