// swift-tools-version:6.0
// libFuzzer harnesses for the project's readers of untrusted bytes. Built and run by `make fuzz`
// (see the Makefile): `swift build --sanitize=fuzzer --sanitize=address` instruments every module, so coverage
// guides the fuzzer and AddressSanitizer catches bad memory accesses in the unsafe loops.
import PackageDescription

let readers = ["Pickle", "Archive", "Records", "Images", "Safetensors", "Metadata"]

let package = Package(
    name: "MobileNetCPUFuzz",
    dependencies: [.package(name: "MobileNetCPU", path: "..")],
    targets: readers.map { reader in
        .executableTarget(
            name: "Fuzz\(reader)",
            dependencies: [
                .product(name: "CIFAR", package: "MobileNetCPU"),
                .product(name: "Training", package: "MobileNetCPU"),
            ])
    }
)
