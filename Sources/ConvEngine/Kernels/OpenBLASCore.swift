import Foundation

/// Whether OpenBLAS's kernel set suits the CPU it runs on.
///
/// OpenBLAS picks its GEMM kernels from the CPU's model number when it loads. A release that does not
/// know the model falls back to an old, narrow set: Debian 12's OpenBLAS 0.3.21 runs its SSE3
/// "Prescott" kernels on Emerald Rapids Xeons (family 6, model 207), which have AVX-512, and the
/// pointwise layers then run several times slower. The choice cannot be changed once the library is
/// loaded, and the engine never sets `OPENBLAS_CORETYPE` itself (that stays the user's), so it says
/// what to set.
public enum OpenBLASCore {
    /// Kernel sets that use AVX-512.
    static let avx512Cores: Set<String> = ["skylakex", "cooperlake", "sapphirerapids"]
    /// Kernel sets that use AVX2 and FMA (the AVX-512 ones included).
    static let avx2Cores = avx512Cores.union(["haswell", "zen", "excavator"])
    /// The CPU features that AVX-512 kernel sets need.
    static let avx512Features: Set<String> = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]

    /// A sentence of advice when OpenBLAS runs kernels narrower than the CPU's vectors, else nil.
    ///
    /// - Parameters:
    ///   - core: the kernel set OpenBLAS chose (`BLAS.coreName`).
    ///   - cpuFeatures: the CPU's feature flags as /proc/cpuinfo lists them (empty where unknown).
    ///   - environment: the process's environment; a set `OPENBLAS_CORETYPE` is the user's choice and
    ///     gets no advice.
    public static func advice(
        core: String = BLAS.coreName, cpuFeatures: Set<String> = cpuFeatures(),
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String? {
        guard environment["OPENBLAS_CORETYPE"] == nil else { return nil }
        let name = core.lowercased()
        let suggestion: String
        if cpuFeatures.isSuperset(of: avx512Features) && !avx512Cores.contains(name) {
            suggestion = "SkylakeX"
        } else if cpuFeatures.isSuperset(of: ["avx2", "fma"]) && !avx2Cores.contains(name) {
            suggestion = "Haswell"
        } else {
            return nil
        }
        return "OpenBLAS chose its \(core) kernels, narrower than this CPU's vectors (a release that does not know "
            + "a CPU model falls back to older kernels); OPENBLAS_CORETYPE=\(suggestion) in the environment selects "
            + "wider ones"
    }

    /// The feature flags of the first processor in /proc/cpuinfo; empty where there is none.
    public static func cpuFeatures() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
            let colon = line.firstIndex(of: ":")
        else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }
}
