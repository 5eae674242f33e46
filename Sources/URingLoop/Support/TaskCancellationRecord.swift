// A task-cancellation handler for a request, without an extra async frame.
//
// Why not `withTaskCancellationHandler`: it is an async function of its own,
// and every async function hops back to its executor after each call it
// awaits. For a task on the global pool a hop is nearly free; for a task
// with an executor preference (a task on a loop) each hop looks the
// preference up under the Swift runtime's process-wide status-record lock,
// which the loop threads of a group then bounce between them. Per request
// that frame cost two of six hops (nop, tasks on a two-loop group: 2.2M ->
// 2.6M requests/s). The standard library builds `withTaskCancellationHandler`
// from two runtime entry points around the operation; CURing calls the same
// two, with a trampoline that hands the record's context (the request) to
// `cancelRequestFromTask`.
import CURing

enum TaskCancellationRecord {
    /// Installs a record on the current task that cancels `request` when the
    /// task is cancelled (at once, if it already is). The same task must
    /// `remove` it before the request's frame ends. `nil` when the task was
    /// already cancelled: the handler has run and the runtime kept no record.
    @inline(__always)
    static func add(for request: Request) -> UnsafeMutableRawPointer? {
        _ = installCallback
        return curing_task_add_cancellation(Unmanaged.passUnretained(request).toOpaque())
    }

    /// Removes the record (`nil`: there is none); once this returns the
    /// handler is not running and never will.
    @inline(__always)
    static func remove(_ record: UnsafeMutableRawPointer?) {
        guard let record else { return }
        curing_task_remove_cancellation(record)
    }

    /// Set once per process, before the first record exists.
    private static let installCallback: Void = curing_set_cancellation_callback { context in
        // The request outlives its record: the frame that added the record
        // holds the request until after `remove`.
        Unmanaged<Request>.fromOpaque(context!).takeUnretainedValue().cancelFromTask()
    }
}
