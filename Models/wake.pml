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
 *   add on the packed state: sequence += 1, read the sleep-intent bit) and
 *   ring the eventfd only if the bit was set;
 * - the loop reaps wake CQEs (acknowledge = drain the eventfd counter;
 *   re-install the multishot poll when the CQE says the kernel ended it),
 *   drains at most `submitted - processed` messages, and if nothing is left
 *   arms sleep intent (fetch-or, returning the sequence of that same step),
 *   blocks only if that snapshot equals `processed`, then disarms;
 * - the eventfd counter and the multishot poll: a write while the poll is
 *   armed posts a CQE, and the kernel may end the multishot at any CQE
 *   (no IORING_CQE_F_MORE); a re-installed poll on a non-zero counter posts
 *   a CQE at once (POLLIN is level-triggered);
 * - the last handle's release: close the channel, then ring.
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
 *   -DNO_RECHECK  the loop blocks after arming without comparing the snapshot
 *   -DNO_RING     publish never rings the eventfd, armed or not
 */

#define PRODUCERS 2
#define MESSAGES 2           /* per producer */
#define EFD_MAX 3            /* eventfd counter saturation in the model */

byte queued = 0;             /* messages in the channel, not yet drained */
bool closed = false;
byte submitted = 0;          /* the packed state: sequence ... */
bool intent = false;         /* ... and the sleep-intent bit, one atomic word */
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

inline publish() {
    bool wasArmed;
    atomic { submitted++; wasArmed = intent };
#ifdef NO_RING
    skip
#else
    if
    :: wasArmed -> ring()
    :: else -> skip
    fi
#endif
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
    ring()
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
        /* 4. sleep only if nothing was published since */
        if
        :: processed != snapshot -> skip
        :: else ->
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
