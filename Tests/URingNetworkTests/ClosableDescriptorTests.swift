// ClosableDescriptor: a close with calls in flight keeps the descriptor open
// for them and releases it when the last returns; borrows after a close are
// refused; and racing borrowers see it open for as long as they hold it.
import Glibc
import Synchronization
import Testing
@testable import URingNetwork
import URingTestSupport

/// The inode of what `fd` refers to, nil if it is not open.
private func inode(of fd: Int32) -> UInt64? {
    var status = stat()
    return fstat(fd, &status) == 0 ? UInt64(status.st_ino) : nil
}

@Suite struct ClosableDescriptorTests {
    /// A pipe's read end, and the identity of the pipe it reads, so that
    /// "released" can be checked even once the number is reused.
    private func pipeEnd() throws -> (fd: Int32, inode: UInt64) {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        close(ends[1])
        return (ends[0], try #require(inode(of: ends[0])))
    }

    @Test func aCloseWaitsForTheCallsHoldingTheDescriptor() async throws {
        let (fd, pipeInode) = try pipeEnd()
        let descriptor = ClosableDescriptor(fd)
        let holding = Atomic<Bool>(false)
        let letGo = Atomic<Bool>(false)
        let call = Task {
            try await descriptor.borrow { fd in
                holding.store(true, ordering: .releasing)
                try await until("told to let go") { letGo.load(ordering: .acquiring) }
                return inode(of: fd)
            }
        }
        try await until("the call holds the descriptor") { holding.load(ordering: .acquiring) }
        var shutDownWhileOpen = false
        #expect(descriptor.close { shutDownWhileOpen = inode(of: $0) == pipeInode })
        #expect(shutDownWhileOpen)
        #expect(!descriptor.close { _ in Issue.record("closed twice") })
        #expect(inode(of: fd) == pipeInode, "released under a call that holds it")
        #expect(try await descriptor.borrow { _ in true } == nil, "a borrow after close ran")
        letGo.store(true, ordering: .releasing)
        #expect(try await call.value == pipeInode)
        #expect(inode(of: fd) != pipeInode, "still open after the last call returned")
    }

    @Test func closedWithNothingInFlightItIsReleasedAtOnce() throws {
        let (fd, pipeInode) = try pipeEnd()
        let descriptor = ClosableDescriptor(fd)
        #expect(descriptor.close { _ in })
        #expect(inode(of: fd) != pipeInode)
    }

    @Test func racingBorrowersAlwaysFindItOpenAndItIsReleasedOnce() async throws {
        for _ in 0..<(underThreadSanitizer ? 20 : 200) {
            let (fd, pipeInode) = try pipeEnd()
            let descriptor = ClosableDescriptor(fd)
            let ran = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        var ran = 0
                        for _ in 0..<20 {
                            let seen = await descriptor.borrow { fd in
                                if index % 2 == 0 { await Task.yield() }
                                return inode(of: fd)
                            }
                            guard let seen else { break }
                            #expect(seen == pipeInode, "a borrower found the descriptor released")
                            ran += 1
                        }
                        return ran
                    }
                }
                group.addTask {
                    await Task.yield()
                    descriptor.close { fd in #expect(inode(of: fd) == pipeInode) }
                    return 0
                }
                return try await group.reduce(0, +)
            }
            #expect(inode(of: fd) != pipeInode, "not released after \(ran) calls")
        }
    }
}
