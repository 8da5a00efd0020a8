import ArgumentParser
import MobileNetCPU

/// The `mobilenet` command: trains and measures depthwise-separable networks on the CPU.
@main
struct Mobilenet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mobilenet",
        abstract: "Train and measure depthwise-separable CNNs on the CPU.",
        version: MobileNetCPU.version)
}
