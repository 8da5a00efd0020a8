@_exported import Bench
@_exported import CIFAR
// The library product: one import for the engine, the models, the data pipeline, training runs and benchmarks.
@_exported import ConvEngine
@_exported import ConvModels
@_exported import ONNX
@_exported import Training

/// Facts about this build of the library. (Not named after the module, so that `MobileNetCPU.Tensor`
/// and the like resolve.)
public enum LibraryInfo {
    /// The library version.
    public static let version = "0.3.0"
}
