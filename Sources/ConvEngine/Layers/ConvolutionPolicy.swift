/// Which algorithm a convolution layer runs: chosen per shape (`auto`), or forced by the user.
public enum ConvolutionAlgorithm: String, CaseIterable, Sendable, Codable {
    /// The fastest measured for the layer's shape (`ConvolutionPolicy`).
    case auto
    /// The design's plain lowering: standard convolutions as im2col + GEMM, pointwise as one GEMM
    /// over the whole batch (depthwise always runs per channel). What the other paths are measured
    /// against.
    case im2col
    /// The direct kernels wherever they apply (standard convolutions; pointwise as a 1×1 window).
    case direct
    /// Winograd F(2×2, 3×3) wherever it applies (3×3 windows at stride 1).
    case winograd
}

/// The way one convolution layer computes its passes, for its prepared shape.
public enum ConvolutionPath: String, Sendable, Codable {
    /// im2row + GEMM (`ColumnConv.swift`), in per-slice blocks or whole-batch chunks.
    case im2col
    /// One GEMM per pass over the whole batch (a pointwise layer).
    case gemm
    /// The direct kernels (`DirectConv.swift`).
    case direct
    /// Winograd F(2×2, 3×3) (`WinogradConv.swift`).
    case winograd
}

/// The one place that decides how each convolution runs, from its shape: the thresholds below, the
/// reasons for them, and the choice (in the manner of ATen's `select_conv_backend`). The measurements
/// behind each threshold are in `docs/performance.md` ("Convolution paths").
public enum ConvolutionPolicy {
    /// Input channels up to which a standard convolution is an RGB stem that the direct kernels run
    /// at any stride: im2row would write a column matrix 9× the input and multiply it with an inner
    /// extent of only 27, far from OpenBLAS's peak.
    public static let stemChannels = 4
    /// A stride-1 convolution over whole blocks of this many input channels takes the direct kernels
    /// (dx is then the forward kernel over the flipped filters, with whole registers of outputs).
    public static let directChannelBlock = 16
    /// Taps × input channels up to which it does (3×3 over 128): a 32-output block of weights,
    /// K·K·C·32 floats, then stays in L2; past it the column path was faster.
    public static let directMaximumTaps = 1152
    /// Input channels from which a 3×3 stride-1 convolution takes Winograd, ahead of the direct
    /// kernels: 2.25× fewer multiply-adds as 16 GEMMs, when the channels make those GEMMs worth it.
    public static let winogradMinimumChannels = 64
    /// The input channel count for which a pointwise layer takes the direct kernels as a 1×1 window:
    /// a product with an inner extent of 32 is far from OpenBLAS's peak, and the kernels apply the
    /// bias and rectifier in registers; from 64 channels the GEMM was faster. None in AVX-512 builds,
    /// where `PanelGemm`'s 16-float tiles ran MobileNet's 32 → 64 layers' forward passes in half
    /// the direct kernels' time (1.0-224 at batch 1, 112×112: 0.27 → 0.13 ms; with its gradients
    /// 0.80 → 0.36 ms), and at batch 128 of 32×32 the whole step as fast.
    public static var pointwiseDirectChannels: Int? { VectorCode.isAVX512 ? nil : 32 }

    /// Whether the direct kernels can run a standard convolution of `channels` inputs at `stride`:
    /// any RGB stem, and stride 1 over whole blocks of 16 channels.
    static func directApplies(channels C: Int, stride: Int) -> Bool {
        C <= stemChannels || (stride == 1 && C % directChannelBlock == 0)
    }

    /// The plan of a standard (k×k) convolution over `g` with `outputChannels` filters.
    ///
    /// - `auto`: Winograd for 3×3 at stride 1 over `winogradMinimumChannels` or more when its buffers
    ///   fit in `maxColumnFloats`; the direct kernels for stems, and at stride 1 over whole blocks of
    ///   16 channels up to `directMaximumTaps`; im2row + GEMM otherwise (strided, 1×1 through
    ///   `Conv2D`, other kernels).
    /// - `im2col`: im2row + GEMM always.
    /// - `direct` / `winograd`: that algorithm wherever it applies, im2row + GEMM elsewhere.
    static func plan(
        _ g: WindowGeometry, outputChannels O: Int, algorithm: ConvolutionAlgorithm,
        maxColumnFloats: Int
    ) -> Conv2D.Plan {
        let column = Conv2D.Plan.column(ColumnPlan(g, outputChannels: O, maxColumnFloats: maxColumnFloats))
        let C = g.channels
        let winogradApplies = g.kernel == 3 && g.stride == 1
        switch algorithm {
        case .im2col:
            return column
        case .winograd:
            return winogradApplies
                ? WinogradPlan(g, outputChannels: O, maxFloats: maxColumnFloats).map { .winograd($0) } ?? column : column
        case .direct:
            return directApplies(channels: C, stride: g.stride) ? .direct : column
        case .auto:
            if g.kernel == 1 && g.stride == 1 && g.padding == 0 { return column }
            if winogradApplies && C >= winogradMinimumChannels,
                let plan = WinogradPlan(g, outputChannels: O, maxFloats: maxColumnFloats)
            {
                return .winograd(plan)
            }
            if C <= stemChannels || (directApplies(channels: C, stride: g.stride) && g.kernel * g.kernel * C <= directMaximumTaps)
            {
                return .direct
            }
            return column
        }
    }

    /// Whether a pointwise layer over `inputChannels` runs on the direct kernels (as a 1×1 window)
    /// rather than as one GEMM.
    static func pointwiseUsesDirectKernels(inputChannels: Int, algorithm: ConvolutionAlgorithm) -> Bool {
        switch algorithm {
        case .auto: return pointwiseDirectChannels == inputChannels
        case .direct: return true
        case .im2col, .winograd: return false
        }
    }
}
