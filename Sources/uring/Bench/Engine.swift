// The engines `uring bench` compares: ours in its three shapes and the
// peers (NIO, blocking threads, the no-io_uring floor).
import ArgumentParser

enum Engine: String, CaseIterable, ExpressibleByArgument, Sendable {
    case uring
    /// Tasks with the loops' executor preference (a LoopGroup, one loop per CPU).
    case uringLocal = "uring-local"
    /// Plain tasks in a process whose global executor is a LoopGroup
    /// (`uring echo-server --global-executor`, run as a child).
    case uringGlobal = "uring-global"
    case floor
    case nio
    /// NIO's async API (`NIOAsyncChannel`), a plain task per connection: the
    /// same shape as the `uring` echo engine's.
    case nioAsync = "nio-async"
    case pread

    /// One line for the legend under the results table.
    var summary: String {
        switch self {
        case .uring: return "ours, ordinary tasks: each request crosses to the loop's thread and back (what the page cache or a socket can answer at once is done on the spot)"
        case .uringLocal: return "ours, tasks on the loops (executor preference): no thread crossings"
        case .uringGlobal: return "ours, ordinary tasks in a process that gave the loops its global executor"
        case .floor: return "no io_uring: a bare thread resuming continuations, what any cross-thread design costs"
        case .nio: return "SwiftNIO: NIOFileSystem on its thread pool; for echo and udp-echo, a channel handler on one event loop"
        case .nioAsync: return "SwiftNIO: a plain task per NIOAsyncChannel (the shape of ours with ordinary tasks)"
        case .pread: return "blocking pread/pwrite, one dedicated thread per task"
        }
    }
}
