// A thread's nice value: how much CPU the kernel's fair scheduler gives a
// loop when its CPU is shared.
//
// A loop serves every task that submits to it, yet at the default nice it
// weighs no more than any one thread of the process. On a machine with more
// runnable threads than CPUs, a loop sharing its CPU with a busy pool worker
// gets its fair half and every task waits on it. A lower nice value (a
// larger weight) keeps it served; `LoopConfiguration.niceness` is the
// choice, since lowering nice needs privilege (CAP_SYS_NICE, or an
// RLIMIT_NICE that allows it). The benchmark tool sets its peers' threads
// with it too, so both sides fail the same way.
import CURing
import URing

package enum ThreadPriority {
    /// The nice values Linux accepts (lower runs first).
    package static let nicenessRange: ClosedRange<Int32> = -20...19

    /// Sets the calling thread's nice value (Linux keeps one per thread).
    package static func setCurrentThreadNiceness(_ niceness: Int32) throws(IOError) {
        let result = curing_set_thread_nice(niceness)
        guard result == 0 else {
            var context = "nice \(niceness)"
            if result == -EACCES || result == -EPERM {
                context += " (below \(currentThreadNiceness()) needs CAP_SYS_NICE or an RLIMIT_NICE that allows it)"
            }
            throw IOError("setpriority", errno: result, context: context)
        }
    }

    /// The calling thread's nice value.
    package static func currentThreadNiceness() -> Int32 {
        curing_thread_nice()
    }
}
