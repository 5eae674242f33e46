// Pinning loops to CPUs: a pinned loop's thread may run only where it was
// told, a group spreads its loops over the CPUs one each, and affinities
// that cannot work are refused with a clear error instead of a stray thread.
import Glibc
import Testing
import URing
@testable import URingLoop
import URingTestSupport

@Suite struct AffinityTests {
    /// The CPUs the loop thread of `handle` may run on, read on that thread.
    private func loopThreadCPUs(_ handle: Handle) async throws -> [Int] {
        try await Task(executorPreference: handle.executor) {
            guard handle.executor.isCurrent else { throw IOError("affinity", .corrupt("task did not run on its loop")) }
            return try ThreadAffinity.currentThreadCPUs()
        }.value
    }

    @Test func aPinnedLoopRunsOnlyOnItsCPU() async throws {
        let allowed = try ThreadAffinity.currentThreadCPUs()
        let cpu = try #require(allowed.last)
        var configuration = LoopConfiguration()
        configuration.size = 8
        configuration.cpuAffinity = [cpu]
        let handle = try IOLoop.start(configuration)
        #expect(try await loopThreadCPUs(handle) == [cpu])
        // Requests still work from both sides of the pin.
        try await handle.nop()
        try await Task(executorPreference: handle.executor) { try await handle.nop() }.value
        await handle.shutdown()
        // Only the loop thread was pinned, never its starter.
        #expect(try ThreadAffinity.currentThreadCPUs() == allowed)
    }

    @Test func affinitiesThatCannotWorkAreRefused() async throws {
        for (cpus, message) in [
            (Set<Int>(), "cpuAffinity must name at least one CPU (nil: no affinity)"),
            ([0, ThreadAffinity.cpuLimit], "cpuAffinity: CPU 1024 is outside 0..<1024"),
            ([-1], "cpuAffinity: CPU -1 is outside 0..<1024"),
        ] {
            var configuration = LoopConfiguration()
            configuration.cpuAffinity = cpus
            await expectIOError(.invalidArgument(message)) { _ = try IOLoop.start(configuration) }
            await expectIOError(.invalidArgument(message)) {
                _ = try LoopGroup(count: 2, configuration: configuration, pinningLoopsToCPUs: true)
            }
        }
        // A CPU this process may not use: the kernel refuses, and start says so.
        let allowed = Set(try ThreadAffinity.currentThreadCPUs())
        let forbidden = try #require((0..<ThreadAffinity.cpuLimit).first { !allowed.contains($0) })
        var configuration = LoopConfiguration()
        configuration.cpuAffinity = [forbidden]
        do {
            _ = try IOLoop.start(configuration)
            Issue.record("a loop pinned to CPU \(forbidden), outside \(allowed.sorted()), started")
        } catch {
            #expect(error.operation == "sched_setaffinity")
            #expect(error.reason == .errno(EINVAL))
            #expect(error.context?.contains("CPUs \(forbidden)") == true, "\(error)")
        }
    }

    @Test func aPinnedGroupPutsOneLoopOnEachCPU() async throws {
        let allowed = try ThreadAffinity.currentThreadCPUs()
        var configuration = LoopConfiguration()
        configuration.size = 8
        let group = try LoopGroup(configuration: configuration, pinningLoopsToCPUs: true)
        #expect(group.handles.count == allowed.count)
        for (index, handle) in group.handles.enumerated() {
            #expect(try await loopThreadCPUs(handle) == [allowed[index]])
        }
        await group.shutdown()

        // More loops than CPUs wrap around; an explicit set narrows the choice.
        configuration.cpuAffinity = [allowed[0]]
        let narrowed = try LoopGroup(count: 3, configuration: configuration, pinningLoopsToCPUs: true)
        for handle in narrowed.handles {
            #expect(try await loopThreadCPUs(handle) == [allowed[0]])
        }
        await narrowed.shutdown()

        // Unpinned, a group still defaults to one loop per usable CPU.
        let restricted = try LoopGroup(configuration: configuration)
        #expect(restricted.handles.count == 1)
        #expect(try await loopThreadCPUs(restricted.handles[0]) == [allowed[0]])
        await restricted.shutdown()
        configuration.cpuAffinity = nil
        let unrestricted = try LoopGroup(configuration: configuration)
        #expect(unrestricted.handles.count == allowed.count)
        await unrestricted.shutdown()

        // Without pinning, loops keep the starter's affinity.
        let free = try LoopGroup(count: 2, configuration: configuration)
        for handle in free.handles {
            #expect(try await loopThreadCPUs(handle) == allowed)
        }
        await free.shutdown()
    }
}
