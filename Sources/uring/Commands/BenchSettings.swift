// Everything one workload's run is asked to do, from `uring bench`'s options.
import URingLoop
import URingNetwork
import URingStorage

/// What one workload run is asked to do.
struct BenchSettings: Sendable {
    var workload: Workload
    var concurrency: Int
    var duration: Duration
    var idleSpin: Int?
    /// --no-read-pacing turns `LoopConfiguration.pacesDeviceReads` off.
    var readPacing = true
    /// --no-idle-futex turns `LoopConfiguration.sleepsOnFutexWhenIdle` off.
    var idleFutex = true
    /// --no-cache-first: our storage reads go through the ring even when
    /// the page cache holds the block (`ReadOptions.cacheFirst` off).
    var cacheFirst = true
    /// --ready-first: which of the uring engine's echo and udp-echo socket
    /// calls try the socket first (`NetworkConfiguration.readyFirst`).
    var readyFirst: ReadyFirst = .all
    var pinLoops = false
    /// --thread-nice: applied to our loops, the floor thread, NIO's event loop.
    var threadNice: Int32?
    var direct = false
    var messageSize = 64
    /// storage-read --batch: blocks per call for our engines, from
    /// concurrency / batch tasks.
    var batch = 1
    /// --global-executor: the group installed as the global executor; the
    /// uring echo engine's network runs on it (the other engines' tasks
    /// follow their I/O to their own loops).
    var globalLoops: LoopGroup?
    /// The read options of our storage engines.
    var readOptions: ReadOptions { ReadOptions(cacheFirst: cacheFirst) }
    var seconds: Double { Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 }
}
