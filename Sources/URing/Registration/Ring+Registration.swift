// io_uring_register: probe, registered files and buffers, and an eventfd.
//
// Registered files and buffers save the kernel a lookup and a page pin per
// operation; the caller keeps registered memory alive until unregistered.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CURing

extension Ring {
    private func register(_ name: String, _ opcode: UInt32, _ argument: UnsafeRawPointer?, _ count: UInt32) throws(IOError) {
        let result = curing_register(fd, opcode, argument, count)
        if result < 0 { throw IOError(name, errno: result) }
    }

    /// The opcodes this kernel supports.
    public func probe() throws(IOError) -> Probe {
        let slots = 256
        let size = MemoryLayout<io_uring_probe>.stride + slots * MemoryLayout<io_uring_probe_op>.stride
        let memory = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { memory.deallocate() }
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        try register("io_uring_register(PROBE)", UInt32(IORING_REGISTER_PROBE), memory, UInt32(slots))
        let header = memory.assumingMemoryBound(to: io_uring_probe.self).pointee
        let ops = (memory + MemoryLayout<io_uring_probe>.stride).assumingMemoryBound(to: io_uring_probe_op.self)
        var supported = Set<UInt8>()
        for index in 0..<Int(header.ops_len) where ops[index].flags & UInt16(IO_URING_OP_SUPPORTED) != 0 {
            supported.insert(ops[index].op)
        }
        return Probe(lastOpcode: header.last_op, supported: supported)
    }

    /// Registers `descriptors` as the fixed-file table (use index with
    /// `.fixedFile`); -1 leaves a slot empty for a later update.
    public func registerFiles(_ descriptors: [Int32]) throws(IOError) {
        try descriptors.withUnsafeBufferPointer { (buffer) throws(IOError) in
            try register("io_uring_register(FILES)", UInt32(IORING_REGISTER_FILES), buffer.baseAddress, UInt32(buffer.count))
        }
    }

    /// Replaces fixed-file slots from `offset` with `descriptors` (-1 clears a slot).
    public func updateFiles(at offset: UInt32, _ descriptors: [Int32]) throws(IOError) {
        try descriptors.withUnsafeBufferPointer { (buffer) throws(IOError) in
            var update = io_uring_files_update()
            update.offset = offset
            update.fds = UInt64(UInt(bitPattern: buffer.baseAddress))
            try register("io_uring_register(FILES_UPDATE)", UInt32(IORING_REGISTER_FILES_UPDATE), &update, UInt32(buffer.count))
        }
    }

    /// Drops the fixed-file table.
    public func unregisterFiles() throws(IOError) {
        try register("io_uring_register(UNREGISTER_FILES)", UInt32(IORING_UNREGISTER_FILES), nil, 0)
    }

    /// Pins `buffers` for `readFixed`/`writeFixed` (index = position).
    /// The memory must stay allocated until `unregisterBuffers` or ring teardown.
    public func registerBuffers(_ buffers: [UnsafeMutableRawBufferPointer]) throws(IOError) {
        let vectors = buffers.map { iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
        try vectors.withUnsafeBufferPointer { (buffer) throws(IOError) in
            try register("io_uring_register(BUFFERS)", UInt32(IORING_REGISTER_BUFFERS), buffer.baseAddress, UInt32(buffer.count))
        }
    }

    /// Unpins the registered buffers.
    public func unregisterBuffers() throws(IOError) {
        try register("io_uring_register(UNREGISTER_BUFFERS)", UInt32(IORING_UNREGISTER_BUFFERS), nil, 0)
    }

    /// Enables a ring created with `SetupFlags.startsDisabled`; with
    /// `singleIssuer`, the calling thread becomes its only issuer.
    /// (`EBADFD` for a ring that was not disabled.)
    public func enable() throws(IOError) {
        try register("io_uring_register(ENABLE_RINGS)", UInt32(IORING_REGISTER_ENABLE_RINGS), nil, 0)
    }

    /// Makes the kernel signal `eventFD` whenever a completion is posted.
    public func registerEventFD(_ eventFD: Int32) throws(IOError) {
        var value = eventFD
        try register("io_uring_register(EVENTFD)", UInt32(IORING_REGISTER_EVENTFD), &value, 1)
    }

    /// Stops signalling the registered eventfd.
    public func unregisterEventFD() throws(IOError) {
        try register("io_uring_register(UNREGISTER_EVENTFD)", UInt32(IORING_UNREGISTER_EVENTFD), nil, 0)
    }
}
