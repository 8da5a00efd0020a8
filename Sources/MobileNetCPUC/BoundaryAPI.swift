import CMobileNetCPU
import ConvEngine
import Foundation
import Training

// The cost of the boundary: the same training step as mnc_network_train_step, looped in Swift
// inside the library, so that a caller can time its own loop of mnc_network_train_step beside it
// in one process, on one network and one batch (bench/boundary.c, bench/boundary.py).

@_cdecl("mnc_network_train_steps")
public func mnc_network_train_steps(
    _ network: OpaquePointer?, _ images: UnsafePointer<Float>?, _ n: Int32, _ layout: Int32,
    _ labels: UnsafePointer<Int32>?, _ optimizer: OpaquePointer?, _ learningRate: Float, _ steps: Int32,
    _ seconds: UnsafeMutablePointer<Double>?
) -> mnc_status {
    call("mnc_network_train_steps") {
        let step = try TrainingCall(network, images, n, layout, labels, optimizer, learningRate, 0)
        let stepCount = try checked(steps, "steps")
        step.handle.lock.lock()
        defer { step.handle.lock.unlock() }
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<stepCount { _ = try step.run() }
        seconds?.pointee = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
