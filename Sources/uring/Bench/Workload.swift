// The workloads `uring bench` knows, with their defaults and engines.
import ArgumentParser

enum Workload: String, CaseIterable, ExpressibleByArgument, Sendable {
    case nop
    case wake
    case storageRead = "storage-read"
    case storageWrite = "storage-write"
    case echo
    /// Not in the default suite: the datagram layer's echo, for the record.
    case udpEcho = "udp-echo"

    /// The engines measured by default, ours first.
    var engines: [Engine] {
        switch self {
        case .nop, .wake: return [.uring, .uringLocal, .floor]
        case .storageRead: return [.uring, .uringLocal, .nio, .pread]
        case .storageWrite: return [.uring, .uringLocal, .nio, .pread]
        case .echo: return [.uring, .uringLocal, .uringGlobal, .nio, .nioAsync]
        case .udpEcho: return [.uring, .uringLocal, .nio]
        }
    }

    var defaultConcurrency: Int {
        switch self {
        case .nop: return 64
        case .wake: return 1
        case .storageRead, .storageWrite, .echo, .udpEcho: return 32
        }
    }

    /// What `uring bench` runs when no workload is named (and `uring` on
    /// its own): the five of issue #6.
    static let defaultSuite: [Workload] = [.nop, .wake, .storageRead, .storageWrite, .echo]

    /// Seconds per run in the quick default suite: nineteen engines, three
    /// runs each, and the 256 MiB file's preparation stay under a minute.
    static let defaultSeconds = 0.8
}
