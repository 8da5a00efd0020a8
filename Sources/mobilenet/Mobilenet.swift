import ArgumentParser
import MobileNetCPU

/// The `mobilenet` command: trains and measures depthwise-separable networks on the CPU.
@main
struct Mobilenet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mobilenet",
        abstract: "Train and measure depthwise-separable CNNs (SeedNet, MobileNet v1) on the CPU.",
        version: LibraryInfo.version,
        subcommands: [
            Train.self, Eval.self, Predict.self, Export.self, Import.self, Summary.self, Bench.self, BenchData.self,
            Download.self, Plot.self,
        ])
}
