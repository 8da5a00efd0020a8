import Foundation
import Testing

@testable import ConvEngine

@Suite struct BLASTests {
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gemmDerivesLeadingDimensionsFromTransposeFlags(_ flags: (transposeA: Bool, transposeB: Bool)) {
        let (m, n, k) = (5, 7, 3)
        var g = RandomGenerator(seed: 9)
        let a = (0..<(m * k)).map { _ in g.nextUniform() }, b = (0..<(k * n)).map { _ in g.nextUniform() }
        var c = (0..<(m * n)).map { _ in g.nextUniform() }
        // op(A)[i, l] and op(B)[l, j] from their stored layouts.
        func opA(_ i: Int, _ l: Int) -> Double { Double(flags.transposeA ? a[l * m + i] : a[i * k + l]) }
        func opB(_ l: Int, _ j: Int) -> Double { Double(flags.transposeB ? b[j * k + l] : b[l * n + j]) }
        let expected = (0..<(m * n)).map { idx -> Double in
            let (i, j) = (idx / n, idx % n)
            return 2 * (0..<k).reduce(0.0) { $0 + opA(i, $1) * opB($1, j) } + 0.5 * Double(c[idx])
        }
        c.withUnsafeMutableBufferPointer { cp in
            BLAS.gemm(
                transposeA: flags.transposeA, transposeB: flags.transposeB, m: m, n: n, k: k, alpha: 2,
                a: a, b: b, beta: 0.5, c: cp.baseAddress!)
        }
        #expect(relativeError(c, expected) <= 1e-6)
    }

    /// The kernel set reported is OpenBLAS's choice, or the one the environment forces.
    @Test func reportsTheKernelSetTheEnvironmentChose() {
        #expect(!BLAS.coreName.isEmpty && BLAS.coreName != "unknown")
        if let forced = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"], !forced.isEmpty {
            #expect(
                BLAS.coreName.lowercased() == forced.lowercased(), "OPENBLAS_CORETYPE=\(forced), OpenBLAS runs \(BLAS.coreName)")
        }
    }

    /// Thread counts are clamped to 1...maximumThreadCount, and a task's limit holds only inside it.
    @Test func threadCountsAreClampedAndScoped() {
        let outside = Parallel.threadCount
        #expect(outside >= 1 && outside <= Parallel.maximumThreadCount)
        Parallel.withThreadCount(0) { #expect(Parallel.currentThreadCount == 1) }
        Parallel.withThreadCount(1_000_000) { #expect(Parallel.currentThreadCount == Parallel.maximumThreadCount) }
        Parallel.withThreadCount(3) { #expect(Parallel.currentThreadCount == 3) }
        #expect(Parallel.threadCount == outside)
    }
}
