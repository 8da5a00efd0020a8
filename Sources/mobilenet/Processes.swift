import ArgumentParser
import Distributed
import Foundation
import MobileNetCPU

/// How `mobilenet train` behaves as one of the processes `mpirun` started: threads, who speaks, and
/// how an error ends the job.
extension MPIProcessGroup {
    /// The engine's default threads in one of several processes on a host: the cores shared out
    /// among them (Open MPI's `OMPI_COMM_WORLD_LOCAL_SIZE`), unless `OPENBLAS_NUM_THREADS` says.
    func shareCores(environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard environment["OPENBLAS_NUM_THREADS"] == nil,
            let local = environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init), local > 1
        else { return }
        Parallel.setThreadCount(max(1, ProcessInfo.processInfo.activeProcessorCount / local))
    }

    /// Ends the whole job over `error`, with the status the command would have exited with.
    ///
    /// Errors that every process meets alike (a batch that does not divide, options that differ)
    /// are reported by process 0, whose `MPI_Abort` ends the others: so any other process waits a
    /// moment first, and speaks only when process 0 did not end the job (an error of its own, such
    /// as data missing on its host).
    func fail(with error: Error, command: any ParsableCommand.Type) -> Never {
        if rank != 0 { Thread.sleep(forTimeInterval: 3) }
        let message = command.fullMessage(for: error)
        let status = command.exitCode(for: error).rawValue
        FileHandle.standardError.write(
            Data("Error (process \(rank) of \(processCount), on \(hostName)): \(message)\n".utf8))
        abort(status: status)
    }
}
