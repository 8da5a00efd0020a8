// The library product: one import for the engine (and, as they arrive, the models and the data pipeline).
@_exported import ConvEngine

/// Facts about this build of the library.
public enum MobileNetCPU {
    /// The library version.
    public static let version = "0.1.0"
}
