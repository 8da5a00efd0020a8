import CMPI
import ConvEngine
import Foundation
import Training

/// The processes that `mpirun` started, as a `ProcessGroup` over Open MPI's `MPI_COMM_WORLD`.
///
/// A process started without `mpirun` never initialises MPI (`launched()` returns nil), so a single
/// process needs no MPI runtime beyond the shared library. Every collective here is called by every
/// process in the same order, from the thread that created the group.
public final class MPIProcessGroup: ProcessGroup {
    /// This process, from 0.
    public let rank: Int
    /// How many processes `mpirun` started.
    public let processCount: Int
    /// The distinct hosts they run on (by `MPI_Get_processor_name`).
    public private(set) var hostCount = 1
    /// This process's host.
    public let hostName: String
    private var finalized = false

    /// The environment variables a launcher of Open MPI (or another PMI/PMIx one) sets in every
    /// process it starts.
    static let launcherVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"]

    /// The group of this process when a launcher started it, else nil (one process, no MPI).
    /// - Throws: `EngineError.invalidArgument` when MPI cannot be initialised.
    public static func launched(environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> MPIProcessGroup?
    {
        guard launcherVariables.contains(where: { environment[$0] != nil }) else { return nil }
        return try MPIProcessGroup()
    }

    private init() throws {
        var provided: Int32 = 0
        // The engine's worker threads never call MPI; the thread that trains calls it alone.
        guard MPI_Init_thread(nil, nil, mnc_mpi_thread_funneled(), &provided) == mnc_mpi_success() else {
            throw EngineError.invalidArgument("MPI_Init_thread failed: is this process started by Open MPI's mpirun?")
        }
        MPI_Comm_set_errhandler(mnc_mpi_comm_world(), mnc_mpi_errors_return())
        var r: Int32 = 0, n: Int32 = 0
        MPI_Comm_rank(mnc_mpi_comm_world(), &r)
        MPI_Comm_size(mnc_mpi_comm_world(), &n)
        rank = Int(r)
        processCount = Int(n)
        var name = [CChar](repeating: 0, count: Int(mnc_mpi_max_processor_name()) + 1)
        var length: Int32 = 0
        MPI_Get_processor_name(&name, &length)
        hostName = String(decoding: name[0..<Int(length)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        hostCount = Set(try gather(hostName)).count
    }

    deinit { finalize() }

    /// Ends MPI for this process (after the last collective; `mpirun` waits for every process).
    public func finalize() {
        guard !finalized else { return }
        finalized = true
        MPI_Finalize()
    }

    /// Ends every process of the job with `status` (`MPI_Abort`); the launcher reports it.
    public func abort(status: Int32) -> Never {
        MPI_Abort(mnc_mpi_comm_world(), status)
        exit(status)
    }

    /// Replaces `values[0..<count]` by its sum over every process (`MPI_Allreduce`, in place).
    public func sum(_ values: UnsafeMutablePointer<Float>, count: Int) throws {
        try forEachChunk(count) { offset, n in
            try check(
                MPI_Allreduce(mnc_mpi_in_place(), values + offset, n, mnc_mpi_float(), mnc_mpi_sum(), mnc_mpi_comm_world()),
                "MPI_Allreduce")
        }
    }

    /// Replaces `values[0..<count]` by its sum over every process (`MPI_Allreduce`, in place).
    public func sum(_ values: UnsafeMutablePointer<Double>, count: Int) throws {
        try forEachChunk(count) { offset, n in
            try check(
                MPI_Allreduce(mnc_mpi_in_place(), values + offset, n, mnc_mpi_double(), mnc_mpi_sum(), mnc_mpi_comm_world()),
                "MPI_Allreduce")
        }
    }

    /// Process 0's `bytes`, on every process (`MPI_Bcast` of the length, then of the bytes).
    public func broadcast(_ bytes: [UInt8]) throws -> [UInt8] {
        var length = Int64(rank == 0 ? bytes.count : 0)
        try check(MPI_Bcast(&length, 1, mnc_mpi_int64(), 0, mnc_mpi_comm_world()), "MPI_Bcast")
        var result = rank == 0 ? bytes : [UInt8](repeating: 0, count: Int(length))
        try result.withUnsafeMutableBytes { buffer in
            try forEachChunk(buffer.count) { offset, n in
                try check(MPI_Bcast(buffer.baseAddress! + offset, n, mnc_mpi_byte(), 0, mnc_mpi_comm_world()), "MPI_Bcast")
            }
        }
        return result
    }

    /// Every process's `text`, by rank (`MPI_Allgather` of the lengths, then `MPI_Allgatherv`).
    public func gather(_ text: String) throws -> [String] {
        let mine = Array(text.utf8)
        var lengths = [Int32](repeating: 0, count: processCount)
        var length = Int32(mine.count)
        try check(
            MPI_Allgather(&length, 1, mnc_mpi_int32(), &lengths, 1, mnc_mpi_int32(), mnc_mpi_comm_world()),
            "MPI_Allgather")
        var offsets = [Int32](repeating: 0, count: processCount)
        for i in 1..<max(processCount, 1) { offsets[i] = offsets[i - 1] + lengths[i - 1] }
        var all = [UInt8](repeating: 0, count: Int(lengths.reduce(0, +)))
        try mine.withUnsafeBytes { source in
            try check(
                MPI_Allgatherv(
                    source.baseAddress, length, mnc_mpi_byte(), &all, lengths, offsets, mnc_mpi_byte(), mnc_mpi_comm_world()),
                "MPI_Allgatherv")
        }
        return (0..<processCount).map {
            String(decoding: all[Int(offsets[$0])..<Int(offsets[$0] + lengths[$0])], as: UTF8.self)
        }
    }

    /// Runs `body` over `count` items in pieces that fit MPI's `int` counts.
    private func forEachChunk(_ count: Int, _ body: (Int, Int32) throws -> Void) throws {
        let chunk = 1 << 30
        var offset = 0
        while offset < count {
            let n = min(chunk, count - offset)
            try body(offset, Int32(n))
            offset += n
        }
    }

    private func check(_ status: Int32, _ call: String) throws {
        guard status != mnc_mpi_success() else { return }
        var text = [CChar](repeating: 0, count: Int(mnc_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(status, &text, &length)
        let message = String(decoding: text[0..<Int(length)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw EngineError.invalidArgument("\(call) failed on process \(rank) of \(processCount): \(message)")
    }
}
