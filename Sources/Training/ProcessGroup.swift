import ConvEngine

/// The processes of a data-parallel run, as a training run uses them: collective operations that
/// every process calls in the same order. `Distributed.MPIProcessGroup` implements it over MPI; a
/// run without one is a single process.
public protocol ProcessGroup: BatchNormSynchronizer {
    /// This process, from 0; process 0 writes the log and the checkpoints.
    var rank: Int { get }
    /// The hosts the processes run on.
    var hostCount: Int { get }
    /// Replaces `values[0..<count]` by its sum over every process.
    func sum(_ values: UnsafeMutablePointer<Float>, count: Int) throws
    /// Process 0's `bytes`, on every process (others pass anything; it is ignored).
    func broadcast(_ bytes: [UInt8]) throws -> [UInt8]
    /// Every process's `text`, by rank, on every process.
    func gather(_ text: String) throws -> [String]
}

extension ProcessGroup {
    /// Whether this is process 0.
    public var isRoot: Bool { rank == 0 }
}
