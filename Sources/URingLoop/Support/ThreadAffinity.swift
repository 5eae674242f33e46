// Which CPUs a thread may run on: how a loop is pinned to its core.
//
// A loop pinned to one CPU keeps its ring, its waiter table and the tasks it
// runs warm in that CPU's caches, and never meets its sibling loops on one
// core while another sits idle. The scheduler can no longer move it either,
// which is why pinning is a choice (`LoopConfiguration.cpuAffinity`,
// `LoopGroup`'s `pinningLoopsToCPUs`), not the default.
import CURing
import URing

enum ThreadAffinity {
    /// CPU numbers the kernel calls accept here.
    static let cpuLimit = Int(CURING_CPU_LIMIT)

    /// Restricts the calling thread to `cpus`.
    static func pinCurrentThread(to cpus: Set<Int>) throws(IOError) {
        let list = cpus.sorted().map { Int32($0) }
        let result = list.withUnsafeBufferPointer { curing_set_thread_affinity($0.baseAddress, Int32($0.count)) }
        guard result == 0 else {
            let named = "CPUs " + list.map(String.init).joined(separator: ",")
            // EINVAL is the kernel's answer when no CPU of the set is usable.
            throw IOError("sched_setaffinity", errno: result,
                          context: result == -EINVAL ? named + " (none of them online and allowed to this process)" : named)
        }
    }

    /// The CPUs the calling thread may run on, ascending.
    static func currentThreadCPUs() throws(IOError) -> [Int] {
        var cpus = [Int32](repeating: 0, count: cpuLimit)
        let found = cpus.withUnsafeMutableBufferPointer { curing_thread_affinity($0.baseAddress, Int32($0.count)) }
        guard found >= 0 else { throw IOError("sched_getaffinity", errno: found) }
        return cpus.prefix(Int(found)).map(Int.init)
    }
}
