/*
 * The producer-to-loop wake protocol of swift-uring (Waker + IOLoop), as a
 * SPIN model.
 *
 * A "message" here is anything a producer hands the loop through the
 * channel: a request, a task's cancellation, or a job for the loop's
 * executor from another thread. All three are enqueued, then published, the
 * same way, so one model covers them. Jobs and requests from tasks already
 * running on the loop thread never cross threads and need no wake at all.
 *
 * What is modelled, step by step as the Swift code does it:
 * - producers enqueue a message into the channel, then publish (one atomic
 *   add on the packed state: sequence += 1, read the two intent bits) and
 *   ring the doorbell the loop armed: FUTEX_WAKE for futex intent, the
 *   eventfd for ring intent, nothing for neither;
 * - the loop reaps wake CQEs (acknowledge = drain the eventfd counter;
 *   re-install the multishot poll when the CQE says the kernel ended it),
 *   drains at most `submitted - processed` messages, and if nothing is left
 *   arms one intent (fetch-or, returning the word of that same step),
 *   blocks only if that snapshot's sequence equals `processed`, then
 *   disarms. Which intent: the loop sleeps on the futex only when it holds
 *   nothing the kernel could complete; the model has the loop choose
 *   either at every sleep, so both and every mixture are checked;
 * - FUTEX_WAIT: in one step, compare the word with what the arm left and
 *   block only if they are equal (intent bits, closed bit, sequence; the
 *   real word is compared on its low 32 bits, see Waker.swift); FUTEX_WAKE
 *   ends that block if there is one and is lost otherwise; a loop whose
 *   arm saw the closed bit does not wait on the futex at all;
 * - the eventfd counter and the multishot poll: a write while the poll is
 *   armed posts a CQE, and the kernel may end the multishot at any CQE
 *   (no IORING_CQE_F_MORE); a re-installed poll on a non-zero counter posts
 *   a CQE at once (POLLIN is level-triggered);
 * - the last handle's release: close the channel, set the closed bit, then
 *   ring the eventfd and call FUTEX_WAKE, whatever the intent bits say.
 *
 * Properties:
 * - no lost wake: whenever the whole system is stuck (Promela `timeout`:
 *   nothing can move), nothing is queued, so the loop sleeps only when it
 *   has nothing to do (checked by the Monitor);
 * - processed never passes submitted (assertion in the loop);
 * - the loop exits after the last handle is gone (Monitor: when the system
 *   is stuck after the release, the loop has exited).
 *
 * Scenarios: by default the last handle is released after the producers;
 * -DKEEP_HANDLE never releases it, so no final "close then ring" can hide a
 * wake lost earlier. check.sh verifies both.
 *
 * Broken variants, which SPIN must reject (see check.sh):
 *   -DNO_RECHECK       the loop blocks after arming without comparing the snapshot
 *   -DNO_RING          publish never rings the eventfd, armed or not
 *   -DNO_FUTEX_COMPARE FUTEX_WAIT blocks without comparing the word
 *   -DNO_CLOSED_CHECK  the loop waits on the futex though its arm saw the
 *                      closed bit
 *   -DNO_CLOSED_BIT    the release does not set the closed bit
 *   (the last two in the release scenario: they need a close)
 */

#define PRODUCERS 2
#define MESSAGES 2           /* per producer */
#define EFD_MAX 3            /* eventfd counter saturation in the model */

byte queued = 0;             /* messages in the channel, not yet drained */
bool closed = false;
byte submitted = 0;          /* the packed state: sequence ... */
bool intent = false;         /* ... the ring-intent bit ... */
bool futexIntent = false;    /* ... the futex-intent bit ... */
bool closedBit = false;      /* ... and the closed bit, one atomic word */
bool futexAsleep = false;    /* the loop is blocked in FUTEX_WAIT */
byte efd = 0;                /* eventfd counter */
bool pollArmed = false;      /* the multishot POLL_ADD is live in the kernel */
byte cqes = 0;               /* wake CQEs posted, not yet reaped */
byte cqesEnded = 0;          /* of those, how many ended the multishot */
byte producersDone = 0;
bool loopExited = false;

/* eventfd write: the counter rises (EAGAIN when saturated: a wake is already
   pending), and a live poll posts a CQE, which may end the multishot. */
inline ring() {
    atomic {
        if
        :: efd < EFD_MAX -> efd++
        :: else -> skip
        fi;
        if
        :: pollArmed ->
            cqes++;
            if
            :: true -> skip
            :: true -> pollArmed = false; cqesEnded++
            fi
        :: else -> skip
        fi
    }
}

/* FUTEX_WAKE: ends the loop's FUTEX_WAIT if it is in one; lost otherwise. */
inline futexWake() {
    futexAsleep = false
}

inline publish() {
    bool wasArmed;
    bool wasFutexArmed;
    atomic { submitted++; wasArmed = intent; wasFutexArmed = futexIntent };
    if
    :: wasFutexArmed -> futexWake()
#ifdef NO_RING
    :: else -> skip
#else
    :: wasArmed && !wasFutexArmed -> ring()
    :: else -> skip
#endif
    fi
}

proctype Producer() {
    byte sent = 0;
    do
    :: sent < MESSAGES ->
        atomic { queued++ };      /* enqueue first ... */
        publish();                /* ... then publish */
        sent++
    :: else -> break
    od;
    producersDone++
}

/* Holds the last handle; releasing it closes the channel, then rings. */
active proctype Owner() {
    (producersDone == PRODUCERS);
#ifndef KEEP_HANDLE
    closed = true;
#ifndef NO_CLOSED_BIT
    closedBit = true;
#endif
    ring();
    futexWake()
#endif
}

/* Runs only when nothing else can: checks the system is stuck for a good reason. */
active proctype Monitor() {
    timeout ->
        assert(queued == 0);                 /* no lost wake */
        assert(!closed || loopExited)        /* the loop exits after release */
}

active proctype Loop() {
    byte processed = 0;
    byte snapshot;
    bool sawClosed;
    byte take;
    bool reinstall = true;
    do
    :: true ->
        /* 1. reap wake CQEs: acknowledge; re-install if the multishot ended */
        atomic {
            do
            :: cqes > 0 ->
                cqes--;
                efd = 0;
                if
                :: cqesEnded > 0 -> cqesEnded--; reinstall = true
                :: else -> skip
                fi
            :: else -> break
            od
        };
        /* 3. stage: the poll first, then drain what was published */
        if
        :: reinstall ->
            atomic {
                pollArmed = true;
                reinstall = false;
                if
                :: efd > 0 -> cqes++      /* level-triggered: fires at once */
                :: else -> skip
                fi
            }
        :: else -> skip
        fi;
        atomic {
            snapshot = submitted;
            take = snapshot - processed;
            assert(take <= queued);
            queued = queued - take
        };
        processed = processed + take;
        assert(processed <= submitted);
        if
        :: closed && queued == 0 && processed == submitted -> break
        :: else -> skip
        fi;
        /* 4. sleep only if nothing was published since: in the ring ... */
        if
        :: processed != snapshot -> skip
        :: processed == snapshot ->
            atomic { snapshot = submitted; intent = true };   /* arm: fetch-or */
#ifdef NO_RECHECK
end_idle_broken:
            (cqes > 0);                                        /* block regardless */
#else
            if
            :: snapshot == processed ->
end_idle:       (cqes > 0)                                     /* block for a CQE */
            :: else -> skip
            fi;
#endif
            intent = false                                     /* disarm */
        /* ... or on the futex */
        :: processed == snapshot ->
            atomic { snapshot = submitted; sawClosed = closedBit; futexIntent = true };   /* arm */
            if
            :: snapshot == processed ->
#ifdef NO_CLOSED_CHECK
                if :: true -> skip fi;
#else
                if
                :: sawClosed -> goto futexDone                 /* its wake may be spent */
                :: else -> skip
                fi;
#endif
                atomic {                                       /* FUTEX_WAIT's compare */
#ifdef NO_FUTEX_COMPARE
                    futexAsleep = true
#else
                    if
                    :: submitted == snapshot && closedBit == sawClosed -> futexAsleep = true
                    :: else -> skip
                    fi
#endif
                };
end_futex:      (!futexAsleep)                                 /* block until FUTEX_WAKE */
            :: else -> skip
            fi;
futexDone:
            futexIntent = false                                /* disarm */
        fi
    od;
    loopExited = true
}

init {
    atomic {
        run Producer();
        run Producer()
    }
}
