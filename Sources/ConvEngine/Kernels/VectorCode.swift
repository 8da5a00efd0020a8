/// The vector instructions the engine's own kernels (depthwise, batch norm, the direct convolutions,
/// the element-wise passes) were compiled for. OpenBLAS picks its GEMM kernels at run time
/// (`BLAS.coreName`); these are fixed at build time by the flags `make` derives from the build host,
/// which also define `ENGINE_AVX512` or `ENGINE_AVX2` so that the choice can be reported.
public enum VectorCode {
    /// "AVX-512", "AVX2" or "default" (the compiler's default for the target, e.g. SSE2 on x86-64).
    public static var name: String {
        #if ENGINE_AVX512
            "AVX-512"
        #elseif ENGINE_AVX2
            "AVX2"
        #else
            "default"
        #endif
    }

    /// Whether the engine is compiled for AVX-512: the one flag the kernels' width-dependent
    /// choices read (`PanelGemm`'s tiles and depth bound, `ConvolutionPolicy`'s pointwise path).
    static var isAVX512: Bool {
        #if ENGINE_AVX512
            true
        #else
            false
        #endif
    }
}
