import ArgumentParser
import Foundation
import MobileNetCPU

/// `mobilenet plot`: SVG charts from training logs.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw SVG charts from JSON Lines training logs.",
        discussion: """
            Writes training-curves.svg (loss, training and test accuracy, learning rate against steps, one \
            line per log), accuracy-vs-time.svg (test accuracy against wall-clock minutes, one line per log: \
            time to accuracy) and, for logs of finished runs, accuracy-vs-macs.svg (test accuracy against MACs, \
            bubble area proportional to parameters, one bubble per run).
            """)

    @Argument(help: "Training logs written by `mobilenet train --log`.")
    var logs: [String]

    @Option(help: "Folder to write the SVG files into.")
    var output = "."

    func validate() throws {
        if logs.isEmpty { throw ValidationError("give at least one log file") }
        for log in logs where !FileManager.default.fileExists(atPath: log) { throw ValidationError("no log file at \(log)") }
    }

    func run() throws {
        let directory = URL(fileURLWithPath: output)
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw EngineError.io("cannot create the folder \(output) for the charts")
        }
        var loss = SVGChart(title: "Training loss", xLabel: "step", yLabel: "cross-entropy")
        var trainAccuracy = SVGChart(title: "Training accuracy", xLabel: "step", yLabel: "accuracy (%)")
        var testAccuracy = SVGChart(title: "Test accuracy", xLabel: "step", yLabel: "accuracy (%)")
        var rate = SVGChart(title: "Learning rate", xLabel: "step", yLabel: "learning rate")
        var byTime = SVGChart(title: "Test accuracy against wall-clock time", xLabel: "minutes", yLabel: "accuracy (%)")
        byTime.width = 720
        byTime.height = 420
        var macs = SVGChart(
            title: "Test accuracy against cost (bubble area: parameters)", xLabel: "MACs per image (millions, log scale)",
            yLabel: "test accuracy (%)", logX: true)
        macs.width = 720
        macs.height = 420
        var runs: [(name: String, macs: Double, accuracy: Double, params: Double, color: String)] = []
        for (i, path) in logs.enumerated() {
            let (events, torn) = try RunLog.read(URL(fileURLWithPath: path))
            if torn > 0 { note("\(path): its last line is incomplete (a run killed mid-write) and is left out") }
            let color = SVGChart.palette[i % SVGChart.palette.count]
            let model = events.lazy.compactMap { if case .start(let s) = $0 { s.model } else { nil } }.last ?? "run"
            let name = "\(model) (\(URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent))"
            let steps = events.compactMap { if case .step(let s) = $0 { s } else { nil } }
            let evals = events.compactMap { if case .eval(let e) = $0 { e } else { nil } }
            // A diverged run's NaN losses have no place on a chart: they are left out of the lines.
            func points<T>(_ items: [T], _ x: (T) -> Int, _ y: (T) -> Double) -> [(x: Double, y: Double)] {
                items.map { (Double(x($0)), y($0)) }.filter { $0.1.isFinite }
            }
            loss.series.append(.init(name: name, points: points(steps, \.step, \.loss), color: color))
            trainAccuracy.series.append(.init(name: name, points: points(steps, \.step) { 100 * $0.accuracy }, color: color))
            testAccuracy.series.append(.init(name: name, points: points(evals, \.step) { 100 * $0.testAccuracy }, color: color))
            rate.series.append(.init(name: name, points: points(steps, \.step, \.lr), color: color))
            byTime.series.append(
                .init(
                    name: name, points: evals.map { ($0.time / 60, 100 * $0.testAccuracy) }.filter { $0.1.isFinite },
                    color: color))
            // A summary carries the separable model's cost and its baseline's; `standard` says which was trained.
            if let s = events.lazy.compactMap({ if case .summary(let s) = $0 { s } else { nil } }).last {
                let (m, p) = s.standard ? (s.baselineMacs, s.baselineParams) : (s.macs, s.params)
                runs.append((s.model, Double(m) / 1e6, 100 * s.testAccuracy, Double(p), color))
            }
        }
        let curves = directory.appendingPathComponent("training-curves.svg")
        try AtomicFile.write(Data(SVGChart.document([loss, trainAccuracy, testAccuracy, rate], columns: 2).utf8), to: curves)
        print("wrote \(curves.path)")
        let timeChart = directory.appendingPathComponent("accuracy-vs-time.svg")
        try AtomicFile.write(Data(SVGChart.document([byTime], columns: 1).utf8), to: timeChart)
        print("wrote \(timeChart.path)")
        guard !runs.isEmpty else {
            note("no finished runs (no summary events): accuracy-vs-macs.svg not written")
            return
        }
        let largest = runs.map(\.params).max() ?? 1
        macs.bubbles = runs.map {
            .init(
                label: "\($0.name), \(millions(Int($0.params))) params", x: $0.macs, y: $0.accuracy,
                radius: 5 + 20 * ($0.params / largest).squareRoot(), color: $0.color)
        }
        let bubble = directory.appendingPathComponent("accuracy-vs-macs.svg")
        try AtomicFile.write(Data(SVGChart.document([macs], columns: 1).utf8), to: bubble)
        print("wrote \(bubble.path)")
    }
}
