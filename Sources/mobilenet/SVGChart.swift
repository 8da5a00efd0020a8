import Foundation

/// A small SVG chart: axes with ticks and labels, line series, bubbles, a legend. Linear or log-10 x.
struct SVGChart {
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
        var color: String
    }

    struct Bubble {
        var label: String
        var x: Double, y: Double
        /// Radius in pixels.
        var radius: Double
        var color: String
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var logX = false
    var series: [Series] = []
    var bubbles: [Bubble] = []
    var width = 460.0, height = 320.0
    let margin = (left: 62.0, right: 16.0, top: 30.0, bottom: 44.0)

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    private var xs: [Double] { series.flatMap { $0.points.map(\.x) } + bubbles.map(\.x) }
    private var ys: [Double] { series.flatMap { $0.points.map(\.y) } + bubbles.map(\.y) }

    private func tx(_ x: Double) -> Double { logX ? log10(max(x, 1e-12)) : x }

    /// Nice tick values covering [lo, hi].
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        guard hi > lo else { return [lo] }
        let raw = (hi - lo) / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        return stride(from: ceil(lo / step) * step, through: hi + step * 1e-9, by: step).map { $0 }
    }

    static func format(_ v: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) >= 1000 {
            let k = v / 1000
            return k == k.rounded() ? "\(Int(k))k" : String(format: "%.1fk", k)
        }
        return String(format: "%g", Double(String(format: "%.4g", v)) ?? v)
    }

    /// Log-scale ticks: decades, with 2 and 5 between them when the range is short.
    static func logTicks(_ lo: Double, _ hi: Double) -> [Double] {
        let multiples: [Double] = hi - lo < 2 ? [1, 2, 5] : [1]
        return (Int(floor(lo))...Int(ceil(hi))).flatMap { d in multiples.map { $0 * pow(10, Double(d)) } }
            .filter { log10($0) >= lo && log10($0) <= hi }
    }

    /// Legend columns: two when the names fit side by side, else one.
    private var legendColumns: Int {
        let longest = Double(series.map(\.name.count).max() ?? 0)
        return longest * 6.2 + 30 <= (width - margin.left - margin.right) / 2 ? 2 : 1
    }

    /// Height of the legend strip under the plot.
    private var legendHeight: Double {
        series.isEmpty ? 0 : 16 * Double((series.count + legendColumns - 1) / legendColumns) + 4
    }

    /// The chart as an SVG group placed at (ox, oy).
    func group(at ox: Double, _ oy: Double) -> String {
        let plotW = width - margin.left - margin.right, plotH = height - margin.top - margin.bottom - legendHeight
        var xlo = xs.map(tx).min() ?? 0, xhi = xs.map(tx).max() ?? 1
        var ylo = ys.min() ?? 0, yhi = ys.max() ?? 1
        // A flat series gets a range of ±10% around its value (±0.5 around zero).
        if xhi == xlo {
            let pad = xlo == 0 ? 0.5 : abs(xlo) * 0.1
            xlo -= pad
            xhi += pad
        }
        if yhi == ylo {
            let pad = ylo == 0 ? 0.5 : abs(ylo) * 0.1
            ylo -= pad
            yhi += pad
        }
        let xpad = bubbles.isEmpty ? 0 : max((xhi - xlo) * 0.15, logX ? 0.3 : 0),
            ypad = (yhi - ylo) * (bubbles.isEmpty ? 0.08 : 0.2)
        xlo -= xpad
        xhi += xpad
        ylo -= ypad
        yhi += ypad
        func px(_ x: Double) -> Double { margin.left + (tx(x) - xlo) / (xhi - xlo) * plotW }
        func py(_ y: Double) -> Double { margin.top + (1 - (y - ylo) / (yhi - ylo)) * plotH }
        var s = "<g transform=\"translate(\(ox),\(oy))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">\n"
        s += "<rect x=\"0\" y=\"0\" width=\"\(width)\" height=\"\(height)\" fill=\"white\"/>\n"
        s +=
            "<text x=\"\(width / 2)\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">\(escape(title))</text>\n"
        // Grid and ticks.
        let xTicks: [Double] = logX ? Self.logTicks(xlo, xhi) : Self.ticks(xlo, xhi)
        for t in xTicks {
            let x = px(t)
            s += "<line x1=\"\(x)\" y1=\"\(margin.top)\" x2=\"\(x)\" y2=\"\(margin.top + plotH)\" stroke=\"#e5e5e5\"/>\n"
            s += "<text x=\"\(x)\" y=\"\(margin.top + plotH + 14)\" text-anchor=\"middle\">\(Self.format(t))</text>\n"
        }
        for t in Self.ticks(ylo, yhi) {
            let y = py(t)
            s += "<line x1=\"\(margin.left)\" y1=\"\(y)\" x2=\"\(margin.left + plotW)\" y2=\"\(y)\" stroke=\"#e5e5e5\"/>\n"
            s += "<text x=\"\(margin.left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(Self.format(t))</text>\n"
        }
        s +=
            "<rect x=\"\(margin.left)\" y=\"\(margin.top)\" width=\"\(plotW)\" height=\"\(plotH)\" fill=\"none\" stroke=\"#333\"/>\n"
        s +=
            "<text x=\"\(margin.left + plotW / 2)\" y=\"\(margin.top + plotH + 30)\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        s +=
            "<text transform=\"translate(14,\(margin.top + plotH / 2)) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>\n"
        for line in series where !line.points.isEmpty {
            let path = line.points.map { "\(String(format: "%.1f", px($0.x))),\(String(format: "%.1f", py($0.y)))" }.joined(
                separator: " ")
            s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"1.6\"/>\n"
            if line.points.count == 1 {
                s += "<circle cx=\"\(px(line.points[0].x))\" cy=\"\(py(line.points[0].y))\" r=\"3\" fill=\"\(line.color)\"/>\n"
            }
        }
        // Labels beside their bubble, on whichever side has room; a label that would overlap one
        // already placed moves down or up by a line until it is clear.
        var placed: [(left: Double, right: Double, y: Double)] = []
        for b in bubbles.sorted(by: { $0.y > $1.y }) {
            s +=
                "<circle cx=\"\(px(b.x))\" cy=\"\(py(b.y))\" r=\"\(String(format: "%.1f", b.radius))\" fill=\"\(b.color)\" fill-opacity=\"0.45\" stroke=\"\(b.color)\"/>\n"
            let onLeft = px(b.x) > margin.left + 0.55 * plotW
            let labelX = onLeft ? px(b.x) - b.radius - 4 : px(b.x) + b.radius + 4
            let width = Double(b.label.count) * 6.5
            let (left, right) = onLeft ? (labelX - width, labelX) : (labelX, labelX + width)
            var y = py(b.y) + 4, attempt = 0
            while attempt < 12, placed.contains(where: { $0.left < right && left < $0.right && abs($0.y - y) < 14 }) {
                attempt += 1
                y = py(b.y) + 4 + Double((attempt + 1) / 2) * 14 * (attempt % 2 == 1 ? 1 : -1)
            }
            placed.append((left, right, y))
            s += "<text x=\"\(labelX)\" y=\"\(y)\" text-anchor=\"\(onLeft ? "end" : "start")\">\(escape(b.label))</text>\n"
        }
        // Legend: a strip under the plot, one or two entries per row.
        let columns = legendColumns
        for (i, line) in series.enumerated() {
            let x = margin.left + Double(i % columns) * plotW / 2, y = margin.top + plotH + 46 + Double(i / columns) * 16
            s +=
                "<line x1=\"\(x)\" y1=\"\(y - 4)\" x2=\"\(x + 18)\" y2=\"\(y - 4)\" stroke=\"\(line.color)\" stroke-width=\"2\"/>\n"
            s += "<text x=\"\(x + 22)\" y=\"\(y)\">\(escape(line.name))</text>\n"
        }
        return s + "</g>\n"
    }

    /// A whole SVG document of charts laid out in `columns`.
    static func document(_ charts: [SVGChart], columns: Int) -> String {
        let w = charts.map(\.width).max() ?? 0, h = charts.map(\.height).max() ?? 0
        let rows = (charts.count + columns - 1) / columns
        var s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        s +=
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w * Double(min(columns, charts.count)))\" height=\"\(h * Double(rows))\" viewBox=\"0 0 \(w * Double(min(columns, charts.count))) \(h * Double(rows))\">\n"
        for (i, chart) in charts.enumerated() { s += chart.group(at: Double(i % columns) * w, Double(i / columns) * h) }
        return s + "</svg>\n"
    }
}

func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
        of: ">", with: "&gt;")
}
