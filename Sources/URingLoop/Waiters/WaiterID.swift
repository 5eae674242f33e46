// The identity of an admitted request, carried in SQE/CQE user data.
//
// Layout of the 64-bit user data:
//   bits 0..<32   slot index in the waiter table
//   bits 32..<63  slot generation (31 bits), bumped each time the slot is freed
//   bit 63        set on the ASYNC_CANCEL SQE aimed at this waiter
// `UInt64.max` is reserved for the wake poll; indexes stay below the ring's
// maximum size (32768), so no waiter id can collide with it.

/// A waiter slot plus the generation that makes stale CQEs recognisable.
struct WaiterID: Hashable, CustomStringConvertible {
    static let indexBits: UInt64 = 32
    static let generationMask: UInt64 = (1 << 31) - 1
    static let cancelTag: UInt64 = 1 << 63

    let rawValue: UInt64

    init(index: UInt32, generation: UInt32) {
        rawValue = (UInt64(generation) & WaiterID.generationMask) << WaiterID.indexBits | UInt64(index)
    }

    private init(rawValue: UInt64) { self.rawValue = rawValue }

    var index: Int { Int(truncatingIfNeeded: rawValue & 0xFFFF_FFFF) }
    var generation: UInt32 { UInt32(truncatingIfNeeded: (rawValue >> WaiterID.indexBits) & WaiterID.generationMask) }

    /// The user data of this waiter's operation SQEs.
    var userData: UInt64 { rawValue }
    /// The user data of the ASYNC_CANCEL SQE that targets this waiter.
    var cancelUserData: UInt64 { rawValue | WaiterID.cancelTag }

    /// Splits CQE user data into the waiter and whether it is a cancel's CQE.
    static func decode(_ userData: UInt64) -> (id: WaiterID, isCancel: Bool) {
        (WaiterID(rawValue: userData & ~cancelTag), userData & cancelTag != 0)
    }

    /// The same slot's next generation (31-bit wrap).
    var nextGeneration: UInt32 { UInt32((UInt64(generation) + 1) & WaiterID.generationMask) }

    var description: String { "waiter(\(index)#\(generation))" }
}
