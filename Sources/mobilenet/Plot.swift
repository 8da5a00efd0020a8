import ArgumentParser
import Foundation
import MobileNetCPU

/// `mobilenet plot`: SVG charts from training logs.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw SVG charts from JSON Lines training logs.",
        discussion: """
            Writes training-curves.svg (loss, training and test accuracy, learning rate against steps, one \
            line per log) and, for logs of finished runs, accuracy-vs-macs.svg (test accuracy against MACs, \
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
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var loss = SVGChart(title: "Training loss", xLabel: "step", yLabel: "cross-entropy")
        var trainAccuracy = SVGChart(title: "Training accuracy", xLabel: "step", yLabel: "accuracy (%)")
        var testAccuracy = SVGChart(title: "Test accuracy", xLabel: "step", yLabel: "accuracy (%)")
        var rate = SVGChart(title: "Learning rate", xLabel: "step", yLabel: "learning rate")
        var macs = SVGChart(title: "Test accuracy against cost (bubble area: parameters)", xLabel: "MACs per image (millions, log scale)",
                            yLabel: "test accuracy (%)", logX: true)
        macs.width = 720; macs.height = 420
        var runs: [(name: String, macs: Double, accuracy: Double, params: Double, color: String)] = []
        for (i, path) in logs.enumerated() {
            let events = try RunLog.read(URL(fileURLWithPath: path))
            let color = SVGChart.palette[i % SVGChart.palette.count]
            let model = events.last { $0["event"] as? String == "start" }?["model"] as? String ?? "run"
            let name = "\(model) (\(URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent))"
            func points(_ event: String, _ key: String, scale: Double = 1) -> [(x: Double, y: Double)] {
                events.filter { $0["event"] as? String == event }.compactMap { e in
                    guard let step = (e["step"] as? NSNumber)?.doubleValue, let v = (e[key] as? NSNumber)?.doubleValue else { return nil }
                    return (step, v * scale)
                }
            }
            loss.series.append(.init(name: name, points: points("step", "loss"), color: color))
            trainAccuracy.series.append(.init(name: name, points: points("step", "accuracy", scale: 100), color: color))
            testAccuracy.series.append(.init(name: name, points: points("eval", "test_accuracy", scale: 100), color: color))
            rate.series.append(.init(name: name, points: points("step", "lr"), color: color))
            // A summary carries the separable model's cost ("macs", "params") and its baseline's
            // ("baseline_macs", "baseline_params"); "standard" says which of the two was trained.
            if let s = events.last(where: { $0["event"] as? String == "summary" }),
               let a = (s["test_accuracy"] as? NSNumber)?.doubleValue {
                let prefix = (s["standard"] as? Bool) == true ? "baseline_" : ""
                if let m = (s[prefix + "macs"] as? NSNumber)?.doubleValue, let p = (s[prefix + "params"] as? NSNumber)?.doubleValue {
                    runs.append((s["model"] as? String ?? model, m / 1e6, 100 * a, p, color))
                }
            }
        }
        let curves = directory.appendingPathComponent("training-curves.svg")
        try SVGChart.document([loss, trainAccuracy, testAccuracy, rate], columns: 2).write(to: curves, atomically: true, encoding: .utf8)
        print("wrote \(curves.path)")
        guard !runs.isEmpty else {
            note("no finished runs (no summary events): accuracy-vs-macs.svg not written")
            return
        }
        let largest = runs.map(\.params).max() ?? 1
        macs.bubbles = runs.map { .init(label: "\($0.name), \(millions(Int($0.params))) params", x: $0.macs, y: $0.accuracy,
                                        radius: 5 + 20 * ($0.params / largest).squareRoot(), color: $0.color) }
        let bubble = directory.appendingPathComponent("accuracy-vs-macs.svg")
        try SVGChart.document([macs], columns: 1).write(to: bubble, atomically: true, encoding: .utf8)
        print("wrote \(bubble.path)")
    }
}
