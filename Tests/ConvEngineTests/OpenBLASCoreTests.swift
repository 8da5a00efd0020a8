import Testing

@testable import ConvEngine

/// The advice names the kernel set that fits the CPU when OpenBLAS fell back to a narrower one, and
/// stays quiet when the choice fits, when the CPU is unknown, or when the user chose the set.
@Suite struct OpenBLASCoreTests {
    static let avx2: Set<String> = ["sse2", "avx", "avx2", "fma"]
    static let avx512 = avx2.union(OpenBLASCore.avx512Features)

    @Test func aNarrowFallbackGetsAdvice() throws {
        let onAVX512 = try #require(OpenBLASCore.advice(core: "Prescott", cpuFeatures: Self.avx512, environment: [:]))
        #expect(onAVX512.contains("Prescott") && onAVX512.contains("OPENBLAS_CORETYPE=SkylakeX"))
        let onAVX2 = try #require(OpenBLASCore.advice(core: "Sandybridge", cpuFeatures: Self.avx2, environment: [:]))
        #expect(onAVX2.contains("OPENBLAS_CORETYPE=Haswell"))
        // AVX2 kernels on an AVX-512 CPU are narrower too.
        #expect(OpenBLASCore.advice(core: "Haswell", cpuFeatures: Self.avx512, environment: [:])?.contains("SkylakeX") == true)
    }

    @Test func aFittingOrChosenSetGetsNone() {
        #expect(OpenBLASCore.advice(core: "SkylakeX", cpuFeatures: Self.avx512, environment: [:]) == nil)
        #expect(OpenBLASCore.advice(core: "Cooperlake", cpuFeatures: Self.avx512, environment: [:]) == nil)
        #expect(OpenBLASCore.advice(core: "Zen", cpuFeatures: Self.avx2, environment: [:]) == nil)
        #expect(OpenBLASCore.advice(core: "Prescott", cpuFeatures: ["sse2", "sse3"], environment: [:]) == nil)
        #expect(OpenBLASCore.advice(core: "Prescott", cpuFeatures: [], environment: [:]) == nil)
        #expect(
            OpenBLASCore.advice(core: "Haswell", cpuFeatures: Self.avx512, environment: ["OPENBLAS_CORETYPE": "Haswell"]) == nil)
    }

    @Test func theCPUFeaturesAreReadWhereLinuxListsThem() {
        #if os(Linux) && arch(x86_64)
            #expect(OpenBLASCore.cpuFeatures().contains("sse2"))
        #endif
    }
}
