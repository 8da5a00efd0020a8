import ArgumentParser
import Foundation
import MobileNetCPU

/// `mobilenet bench`: speed of a model, layer by layer, beside OpenBLAS on the same GEMMs.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training and inference speed, per layer, against OpenBLAS on the same GEMM shapes.",
        discussion:
            "Random data; medians of --repeats runs after warm-up, in one process. Inference runs with the weights frozen (packed once, as an inference runtime loads a model). GFLOP/s count 2 × MACs; backward counts the weight and the input gradient."
    )

    @OptionGroup var model: ModelOptions

    @OptionGroup var baseline: StandardOption

    @Option(parsing: .unconditional, help: "Number of classes.")
    var classes = 10

    @Option(parsing: .unconditional, help: "Images per step.")
    var batchSize = 128

    @Option(parsing: .unconditional, help: "Timed repetitions (the median is reported).")
    var repeats = 10

    @Option(
        parsing: .unconditional,
        help: "Threads for the engine: its kernels and its GEMM bands (default: every core, or OPENBLAS_NUM_THREADS).")
    var threads: Int?

    @Flag(help: "Also measure the standard-convolution baseline and compare wall-clock with MACs.")
    var compareStandard = false

    @Option(
        help:
            "How convolutions run: auto, im2col (the plain lowering), direct or winograd; repeat it to measure several side by side."
    )
    var convAlgorithm: [ConvolutionAlgorithm] = [.auto]

    @Flag(help: "Print everything as JSON.")
    var json = false

    func validate() throws {
        if batchSize <= 0 { throw ValidationError("--batch-size must be positive, got \(batchSize)") }
        if repeats <= 0 { throw ValidationError("--repeats must be positive, got \(repeats)") }
        try validateThreads(threads)
        _ = try model.configuration(classes: classes, standard: baseline.standard)
    }

    func run() throws {
        if let threads { Parallel.setThreadCount(threads) }
        let configuration = try model.configuration(classes: classes, standard: baseline.standard)
        var configurations = [configuration.separable]
        if compareStandard || configuration.standard {
            configurations = compareStandard ? [configuration.separable, configuration.baseline] : [configuration]
        }
        let advice = OpenBLASCore.advice()
        if let advice { note("note: \(advice)") }
        var results: [Benchmark.Result] = []
        for algorithm in convAlgorithm {
            for c in configurations {
                let benchmark = try Benchmark(
                    configuration: c, batchSize: batchSize, repeats: repeats, convolutionAlgorithm: algorithm)
                results.append(try benchmark.run { note("\(c.displayName), \(algorithm.rawValue) convolutions: \($0)…") })
            }
        }
        if json {
            var object: [String: Any] = [
                "cpu_cores": ProcessInfo.processInfo.activeProcessorCount, "openblas_core": BLAS.coreName,
                "engine_vector_code": VectorCode.name, "openblas_core_advice": advice ?? NSNull(),
                "results": results.map(Self.dictionary),
            ]
            if results.count == 2 && configurations.count == 2 {
                object["macs_ratio"] =
                    Double(results[0].multiplyAccumulatesPerImage) / Double(results[1].multiplyAccumulatesPerImage)
                object["train_time_ratio"] = results[0].trainStepSeconds / results[1].trainStepSeconds
                object["inference_time_ratio"] = results[0].inferenceSeconds / results[1].inferenceSeconds
            }
            print(try jsonText(object))
            return
        }
        for r in results { print(Self.table(r)) }
        if convAlgorithm.count > 1 {
            print("\nside by side (training / inference images/s):")
            for r in results {
                print(
                    String(
                        format: "  %-32@ %-9@ %9.1f %9.1f", r.model as NSString, r.convolutionAlgorithm.rawValue as NSString,
                        r.trainImagesPerSecond, r.inferenceImagesPerSecond))
            }
        }
        if results.count == 2 && configurations.count == 2 {
            let (m, b) = (results[0], results[1])
            print(
                String(
                    format: "\n%@ against its baseline: MACs ratio %.3f, training time ratio %.3f, inference time ratio %.3f",
                    m.model, Double(m.multiplyAccumulatesPerImage) / Double(b.multiplyAccumulatesPerImage),
                    m.trainStepSeconds / b.trainStepSeconds, m.inferenceSeconds / b.inferenceSeconds))
            print(
                String(
                    format: "  (%.0f%% of the MACs saving became training time saved)",
                    100 * (1 - m.trainStepSeconds / b.trainStepSeconds)
                        / max(1e-9, 1 - Double(m.multiplyAccumulatesPerImage) / Double(b.multiplyAccumulatesPerImage))))
        }
    }

    static func table(_ r: Benchmark.Result) -> String {
        var lines = [
            String(
                format: "%@, batch %d, %d threads (OpenBLAS %@, engine %@), %@ convolutions", r.model, r.batchSize, r.threads,
                BLAS.coreName, VectorCode.name,
                r.convolutionAlgorithm.rawValue),
            String(format: "  training   %8.1f img/s  (%.2f ms/step)", r.trainImagesPerSecond, 1000 * r.trainStepSeconds),
            String(format: "  inference  %8.1f img/s  (%.2f ms/batch)", r.inferenceImagesPerSecond, 1000 * r.inferenceSeconds),
            String(
                format: "  fraction of the machine: training %.1f GFLOP/s of lowered work (%.0f%%), inference %.1f (%.0f%%),"
                    + " of OpenBLAS's %.1f GFLOP/s on 2048³",
                r.trainGFLOPs, 100 * r.trainGFLOPs / r.machineGFLOPs, r.inferenceGFLOPs,
                100 * r.inferenceGFLOPs / r.machineGFLOPs, r.machineGFLOPs),
            String(format: "  peak resident memory %.0f MB", Double(r.peakResidentBytes) / 1e6), "",
            "  layer       fwd ms  bwd ms  share  fwd GF/s  bwd GF/s  of sgemm   GB/s  inf ms",
        ]
        let total = r.layers.reduce(0.0) { $0 + $1.forwardSeconds + $1.backwardSeconds }
        for l in r.layers {
            let share = (l.forwardSeconds + l.backwardSeconds) / max(total, 1e-12)
            let gemm = l.fractionOfGemmRate.map { String(format: "%7.0f%%", 100 * $0) } ?? "        "
            let bandwidth =
                l.kind == "dw"
                ? String(
                    format: "%7.1f", Double(l.forwardBytes + l.backwardBytes) * 1e-9 / (l.forwardSeconds + l.backwardSeconds))
                : "       "
            let mark = l.fusedIntoPrevious ? "*" : l.inputGradientByPrevious ? "†" : ""
            lines.append(
                "  " + CostReport.pad("\(l.name) \(l.kind)\(mark)", 10)
                    + String(
                        format: "%6.2f %7.2f %5.1f%% %9.1f %9.1f %@ %@ %7.2f",
                        1000 * l.forwardSeconds, 1000 * l.backwardSeconds, 100 * share, l.forwardGFLOPs, l.backwardGFLOPs, gemm,
                        bandwidth, 1000 * l.inferenceSeconds))
        }
        if r.layers.contains(where: \.fusedIntoPrevious) {
            lines.append("  * done by the layer before it, in the same passes over memory")
        }
        if r.layers.contains(where: \.inputGradientByPrevious) {
            lines.append("  † its input gradient is computed by the layer before it, in that layer's backward")
        }
        lines.append("\n  OpenBLAS sgemm on the plain lowering's shapes, as BLAS.gemm runs it (m × n × k, transposes): GFLOP/s")
        for (call, gflops) in r.gemmRates.prefix(12) {
            lines.append(
                String(
                    format: "    %6d × %5d × %5d %@%@  %6.1f", call.m, call.n, call.k, call.transposeA ? "Aᵀ" : "  ",
                    call.transposeB ? "Bᵀ" : "  ", gflops))
        }
        return lines.joined(separator: "\n")
    }

    static func dictionary(_ r: Benchmark.Result) -> [String: Any] {
        [
            "model": r.model, "configuration": (try? jsonValue(r.configuration)) ?? [:], "batch_size": r.batchSize,
            "threads": r.threads,
            "conv_algorithm": r.convolutionAlgorithm.rawValue, "macs": r.multiplyAccumulatesPerImage,
            "params": r.parameters, "train_images_per_second": r.trainImagesPerSecond,
            "inference_images_per_second": r.inferenceImagesPerSecond,
            "train_step_seconds": r.trainStepSeconds, "inference_seconds": r.inferenceSeconds,
            "peak_resident_bytes": r.peakResidentBytes, "openblas_core": BLAS.coreName,
            "engine_vector_code": VectorCode.name,
            "machine_sgemm_gflops": r.machineGFLOPs, "train_gflops": r.trainGFLOPs, "inference_gflops": r.inferenceGFLOPs,
            "train_fraction_of_machine": r.trainGFLOPs / r.machineGFLOPs,
            "inference_fraction_of_machine": r.inferenceGFLOPs / r.machineGFLOPs,
            "layers": r.layers.map { l -> [String: Any] in
                var d: [String: Any] = [
                    "name": l.name, "kind": l.kind, "macs": l.multiplyAccumulates, "forward_seconds": l.forwardSeconds,
                    "backward_seconds": l.backwardSeconds, "inference_seconds": l.inferenceSeconds,
                    "forward_gflops": l.forwardGFLOPs, "backward_gflops": l.backwardGFLOPs,
                    "forward_bytes": l.forwardBytes, "backward_bytes": l.backwardBytes,
                    "fused_into_previous": l.fusedIntoPrevious, "input_gradient_by_previous": l.inputGradientByPrevious,
                ]
                if let f = l.fractionOfGemmRate { d["fraction_of_sgemm"] = f }
                return d
            },
            "sgemm": r.gemmRates.map {
                [
                    "m": $0.call.m, "n": $0.call.n, "k": $0.call.k, "transpose_a": $0.call.transposeA,
                    "transpose_b": $0.call.transposeB, "gflops": $0.gflops,
                ]
            },
        ]
    }
}
