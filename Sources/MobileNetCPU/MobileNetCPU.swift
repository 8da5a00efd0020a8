// The library product: one import for the engine the models, the data pipeline and training runs.
@_exported import ConvEngine
@_exported import ConvModels
@_exported import CIFAR
@_exported import Training

/// Facts about this build of the library.
public enum MobileNetCPU {
    /// The library version.
    public static let version = "0.1.0"
}
