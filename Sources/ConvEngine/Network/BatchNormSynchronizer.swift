/// Adds batch norm's per-channel sums across the processes of a data-parallel run, so that
/// training statistics span the global batch (synchronized batch norm). Every process must make the
/// same calls in the same order; each has the same number of rows.
public protocol BatchNormSynchronizer: AnyObject {
    /// The processes taking part.
    var processCount: Int { get }
    /// Replaces `values[0..<count]` by its sum over every process.
    func sum(_ values: UnsafeMutablePointer<Double>, count: Int) throws
}
