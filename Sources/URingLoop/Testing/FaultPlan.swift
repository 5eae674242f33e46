// A test-only seam for fault injection: rewrite CQE results and make
// io_uring_enter fail transiently, to drive the loop down paths the kernel
// rarely takes (retries, short transfers, I/O errors, cancel races).
//
// Package access: only this package's tests can install a plan. A loop
// without one pays a single nil check per operation CQE and per enter.

/// Faults a test wants a loop to see.
package struct FaultPlan: Sendable {
    /// Rewrites an operation CQE's result (`-errno` or a byte count) before
    /// the loop applies it; receives the request's operation name (`"read"`,
    /// `"write"`...) and the kernel's real result.
    package var completion: @Sendable (_ operation: String, _ result: Int32) -> Int32
    /// Called before each io_uring_enter: return an errno (`EINTR`,
    /// `EAGAIN`, `EBUSY`) to make that call fail transiently instead.
    package var enter: @Sendable () -> Int32?

    package init(
        completion: @escaping @Sendable (_ operation: String, _ result: Int32) -> Int32 = { $1 },
        enter: @escaping @Sendable () -> Int32? = { nil }
    ) {
        self.completion = completion
        self.enter = enter
    }
}
