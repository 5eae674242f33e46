// A loop's nice value: the loop thread runs at the configured one (and only
// it: the starter keeps its own), a group passes it to every loop, values
// outside Linux's range are refused, and lowering nice without the
// privilege for it fails with the kernel's error instead of running quietly
// at the default.
import Glibc
import Testing
import URing
@testable import URingLoop
import URingTestSupport

@Suite struct ThreadPriorityTests {
    /// The nice value of the loop thread of `handle`, read on that thread.
    private func loopThreadNiceness(_ handle: Handle) async throws -> Int32 {
        try await Task(executorPreference: handle.executor) {
            guard handle.executor.isCurrent else { throw IOError("nice", .corrupt("task did not run on its loop")) }
            return ThreadPriority.currentThreadNiceness()
        }.value
    }

    @Test func aLoopRunsAtItsConfiguredNiceness() async throws {
        let own = ThreadPriority.currentThreadNiceness()
        // Raising nice (less CPU) needs no privilege.
        let raised = min(own + 3, 19)
        var configuration = LoopConfiguration()
        configuration.size = 8
        configuration.niceness = raised
        let handle = try IOLoop.start(configuration)
        #expect(try await loopThreadNiceness(handle) == raised)
        try await handle.nop()
        await handle.shutdown()
        #expect(ThreadPriority.currentThreadNiceness() == own)

        // Without a value the loop keeps the starting thread's.
        let plain = try IOLoop.start(LoopConfiguration())
        #expect(try await loopThreadNiceness(plain) == own)
        await plain.shutdown()
    }

    @Test func aGroupGivesEveryLoopTheNiceness() async throws {
        let raised = min(ThreadPriority.currentThreadNiceness() + 2, 19)
        var configuration = LoopConfiguration()
        configuration.size = 8
        configuration.niceness = raised
        let group = try LoopGroup(count: 2, configuration: configuration)
        for handle in group.handles {
            #expect(try await loopThreadNiceness(handle) == raised)
        }
        await group.shutdown()
    }

    @Test func nicenessOutsideLinuxsRangeIsRefused() async throws {
        for niceness: Int32 in [20, -21, .max, .min] {
            var configuration = LoopConfiguration()
            configuration.niceness = niceness
            await expectIOError(.invalidArgument("niceness \(niceness) is outside -20...19")) {
                _ = try IOLoop.start(configuration)
            }
        }
    }

    @Test func loweringNicenessTakesPrivilegeOrFailsClearly() async throws {
        let own = ThreadPriority.currentThreadNiceness()
        let lowered = max(own - 1, -20)  // at -20 already, asking for it again must simply work
        var configuration = LoopConfiguration()
        configuration.size = 8
        configuration.niceness = lowered
        let handle: Handle
        do {
            handle = try IOLoop.start(configuration)
        } catch {
            // Unprivileged: the kernel's refusal, named.
            #expect(lowered < own, "\(error)")
            #expect(error.operation == "setpriority")
            #expect(error.reason == .errno(EACCES) || error.reason == .errno(EPERM), "\(error)")
            #expect(error.context?.contains("CAP_SYS_NICE") == true, "\(error)")
            return
        }
        // Privileged (root, CAP_SYS_NICE or RLIMIT_NICE): it took effect.
        #expect(try await loopThreadNiceness(handle) == lowered)
        await handle.shutdown()
    }
}
