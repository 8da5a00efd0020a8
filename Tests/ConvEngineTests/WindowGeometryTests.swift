import Testing

@testable import ConvEngine

/// The window kernels skip taps outside the image by asking `WindowGeometry`; checked here against
/// testing every tap of every window.
@Suite struct WindowGeometryTests {
    /// Every kernel, stride and padding up to 5×5 over sides 1 to 9 (where the window fits).
    static var geometries: [WindowGeometry] {
        var all: [WindowGeometry] = []
        for side in 1...9 {
            for kernel in 1...5 {
                for stride in 1...3 {
                    for padding in 0..<kernel {
                        if let g = try? WindowGeometry(
                            input: .nhwc(1, side, side + 1, 1), kernel: kernel, stride: stride,
                            padding: padding, role: "test")
                        {
                            all.append(g)
                        }
                    }
                }
            }
        }
        return all
    }

    @Test func insideTapsAndOutputsMatchTestingEveryTap() {
        let all = Self.geometries
        #expect(all.count > 300)
        var wrong: [String] = []
        for g in all {
            let (S, P, K) = (g.stride, g.padding, g.kernel)
            let (rows, columns) = (0..<g.height, 0..<g.width)
            for oy in 0..<g.outputHeight
            where Array(g.tapRows(atOutputRow: oy)) != (0..<K).filter({ rows.contains(oy * S - P + $0) }) {
                wrong.append("\(g) tapRows(atOutputRow: \(oy))")
            }
            for ox in 0..<g.outputWidth
            where Array(g.tapColumns(atOutputColumn: ox)) != (0..<K).filter({ columns.contains(ox * S - P + $0) }) {
                wrong.append("\(g) tapColumns(atOutputColumn: \(ox))")
            }
            for k in 0..<K {
                if Array(g.outputRows(readingTapRow: k)) != (0..<g.outputHeight).filter({ rows.contains($0 * S - P + k) }) {
                    wrong.append("\(g) outputRows(readingTapRow: \(k))")
                }
                if Array(g.outputColumns(readingTapColumn: k)) != (0..<g.outputWidth).filter({ columns.contains($0 * S - P + k) })
                {
                    wrong.append("\(g) outputColumns(readingTapColumn: \(k))")
                }
            }
        }
        #expect(wrong.isEmpty, "\(wrong.prefix(5))")
    }
}
