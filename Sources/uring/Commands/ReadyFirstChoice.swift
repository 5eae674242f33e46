// `bench --ready-first`: which of the uring engine's socket calls first try
// the socket on the calling task's thread.
import ArgumentParser
import URingNetwork

/// A value of `NetworkConfiguration.readyFirst`, by name.
enum ReadyFirstChoice: String, CaseIterable, ExpressibleByArgument {
    case none, sends, receives, all

    var directions: ReadyFirst {
        switch self {
        case .none: []
        case .sends: .sends
        case .receives: .receives
        case .all: .all
        }
    }
}
