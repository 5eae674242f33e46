// What a request's `onCQE` tells the loop: finished, or stage another SQE
// (a short read or write continuing where the kernel stopped).

/// What a request needs after a CQE.
enum CompletionStep {
    /// The request resumed its caller (with a value or an error).
    case finished
    /// Progress was made but more is needed: stage another SQE.
    case again
}
