import CMobileNetCPU
import ConvEngine
import ConvModels
import Foundation

/// A network behind an `mnc_network *`: the model, its layers, and a lock so that overlapping calls
/// on it (which the header forbids) wait instead of corrupting its buffers.
final class NetworkHandle {
    let configuration: ModelConfiguration
    let network: Sequential
    let lock = NSLock()

    init(configuration: ModelConfiguration, network: Sequential) {
        self.configuration = configuration
        self.network = network
    }
}

/// An optimizer behind an `mnc_optimizer *`, with the network whose parameters it updates.
final class OptimizerHandle {
    let optimizer: Optimizer
    let network: NetworkHandle

    init(optimizer: Optimizer, network: NetworkHandle) {
        self.optimizer = optimizer
        self.network = network
    }
}

/// The live handles: every pointer handed out, until it is freed. A pointer is only ever turned back
/// into an object after it is found here with the kind asked for, so a null, freed or foreign
/// pointer, or one of the other kind, is an error instead of a crash.
enum Handles {
    /// The live objects by address, under a lock (objects are not Sendable; the lock makes them safe).
    private final class Registry: @unchecked Sendable {
        let lock = NSLock()
        var live: [UInt: AnyObject] = [:]
    }

    private static let registry = Registry()

    /// Hands out a retained pointer to `object`.
    static func register(_ object: AnyObject) -> OpaquePointer {
        let pointer = Unmanaged.passRetained(object).toOpaque()
        registry.lock.withLock { registry.live[UInt(bitPattern: pointer)] = object }
        return OpaquePointer(pointer)
    }

    /// The live object of kind `T` behind `pointer`.
    static func object<T: AnyObject>(_ pointer: OpaquePointer?, as _: T.Type, _ name: String) throws -> T {
        guard let pointer else { throw CallError.handle("\(name) is null") }
        let found = registry.lock.withLock { registry.live[UInt(bitPattern: UnsafeRawPointer(pointer))] }
        guard let found else { throw CallError.handle("\(name) is not a live handle (freed, or never created)") }
        guard let object = found as? T else {
            throw CallError.handle("\(name) is a handle of another kind (\(type(of: found)), not \(T.self))")
        }
        return object
    }

    /// Frees the handle `pointer` of kind `T`; nil is allowed.
    static func release<T: AnyObject>(_ pointer: OpaquePointer?, as _: T.Type, _ name: String) throws {
        guard let pointer else { return }
        _ = try object(pointer, as: T.self, name)
        let removed = registry.lock.withLock { registry.live.removeValue(forKey: UInt(bitPattern: UnsafeRawPointer(pointer))) }
        // Another thread may have freed it meanwhile: release the pointer's retain only once.
        if removed != nil { Unmanaged<AnyObject>.fromOpaque(UnsafeRawPointer(pointer)).release() }
    }
}
