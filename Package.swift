// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "MobileNetCPU",
    // Linux is the target platform (it needs no entry); on Apple systems, Synchronization's Atomic
    // and Mutex need macOS 15.
    platforms: [.macOS(.v15)],
    products: [
        // Everything: the engine, the models, the data pipeline, training runs and benchmarks.
        .library(name: "MobileNetCPU", targets: ["MobileNetCPU"]),
        // The layers one at a time, for a user who needs only part of it.
        .library(name: "ConvEngine", targets: ["ConvEngine"]),
        .library(name: "ConvModels", targets: ["ConvModels"]),
        .library(name: "CIFAR", targets: ["CIFAR"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "ONNX", targets: ["ONNX"]),
        .library(name: "Distributed", targets: ["Distributed"]),
        .executable(name: "mobilenet", targets: ["mobilenet"]),
        // The C API (include/mobilenetcpu.h) as a shared library, libmobilenetcpu.so.
        .library(name: "mobilenetcpu", type: .dynamic, targets: ["MobileNetCPUC"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // MD5 of downloaded archives.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // Tests only: counts malloc calls to prove the training step allocates nothing.
        .package(url: "https://github.com/ordo-one/malloc-interposer", from: "1.6.1"),
        // ONNX export: the protobuf runtime for the code generated from onnx.proto (Sources/ONNX/onnx.pb.swift).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // OpenBLAS (cblas) and LAPACKE, linked through a module map. Only ConvEngine imports it.
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        // Tensors, kernels, layers: everything that touches raw memory or BLAS.
        .target(name: "ConvEngine", dependencies: ["COpenBLAS"]),
        // SeedNet, MobileNet v1, the standard-convolution baseline of each, cost counting.
        .target(name: "ConvModels", dependencies: ["ConvEngine"]),
        // zlib, for reading the official .tar.gz archives without unpacking them.
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // libjpeg-turbo (TurboJPEG API) and libpng, through module maps like OpenBLAS's; libpng's
        // errors arrive by longjmp, so a small C target wraps its reads.
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .target(name: "PNGDecoder", dependencies: ["CPNG"]),
        // CIFAR-10/100 readers (binary, pickle, .tar.gz), image folders (JPEG, PNG), download, synthetic
        // set, transforms, the input pipeline.
        .target(
            name: "CIFAR",
            dependencies: [
                "ConvEngine", "CZlib", "CTurboJPEG", "PNGDecoder",
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        // A training run: the loop over epochs, evaluation, JSON Lines log, checkpoints, resume.
        .target(name: "Training", dependencies: ["ConvEngine", "ConvModels", "CIFAR"]),
        // ONNX export and import: the graph of a model, written with swift-protobuf's runtime.
        .target(
            name: "ONNX",
            dependencies: ["ConvEngine", "ConvModels", "CIFAR", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // Performance measurement: throughput, per-layer timing, OpenBLAS reference rates, memory.
        .target(name: "Bench", dependencies: ["ConvEngine", "ConvModels", "CIFAR"]),
        // The library product: re-exports the engine, the models, the data pipeline, training runs,
        // benchmarks and ONNX export.
        .target(name: "MobileNetCPU", dependencies: ["ConvEngine", "ConvModels", "CIFAR", "Training", "Bench", "ONNX"]),
        // Open MPI through a module map, like OpenBLAS; only Distributed imports it.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        // Data-parallel training across processes and hosts: a ProcessGroup over MPI.
        .target(name: "Distributed", dependencies: ["CMPI", "ConvEngine", "Training"]),
        // include/mobilenetcpu.h as a module, so that the C API's Swift side uses its very types.
        .systemLibrary(name: "CMobileNetCPU"),
        // The C API: @_cdecl entry points over the engine, the models and training.
        .target(name: "MobileNetCPUC", dependencies: ["CMobileNetCPU", "ConvEngine", "ConvModels", "Training"]),
        .executableTarget(
            name: "mobilenet",
            dependencies: [
                "MobileNetCPU", "Distributed",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Fixtures live in Tests/Fixtures and are found through #filePath, so no bundle is needed.
        .testTarget(name: "ConvEngineTests", dependencies: ["ConvEngine"]),
        .testTarget(name: "CIFARTests", dependencies: ["CIFAR", "ConvModels", "CZlib", "CTurboJPEG", "Training"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training"]),
        .testTarget(name: "ONNXTests", dependencies: ["ONNX", "Training"]),
        // Runs the built `mobilenet` executable end to end (depending on it makes sure it is built).
        .testTarget(name: "MobilenetCLITests", dependencies: ["mobilenet", "ConvEngine"]),
        .testTarget(
            name: "ConvModelsTests",
            dependencies: [
                "ConvModels",
                .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
            ]),
    ]
)
