/*  gate.h — the venue gate: the checks every request about one venue passes
    before anything is done for it, written once for the broker and the
    worker.

    A venue's SUBMIT, VENUE_OPEN and VENUE_CLOSE (and an operator's
    VENUE_REOPEN) name an election by its fingerprint and a venue by its id.
    The broker checks them to route the request; the worker checks them
    again, since it never sees the original connection and must not take the
    broker's word.  The rule, in this order:

    1. the authenticated sender speaks as itself: the request's venue is the
       sender's venue (skipped for an operator, who speaks for no venue);
    2. the fingerprint is this election's;
    3. the venue is in the definition; its index (and so its shard,
       election->venues[v].shard) is the answer.

    The first failing check decides.  Each caller answers with its own texts
    (which name the message type and the process) and its own counters; the
    category is the ERROR code of the answer.  */
#ifndef PINGYI_GATE_H
#define PINGYI_GATE_H

#include "election.h"
#include "reject.h"

/*  What the gate decided; each refusal has the value of the ERROR code it is
    answered with.  */
typedef enum {
    PINGYI_GATE_OK = 0,
    PINGYI_GATE_FORBIDDEN = PINGYI_ERROR_FORBIDDEN,           /* a venue speaking for another */
    PINGYI_GATE_WRONG_ELECTION = PINGYI_ERROR_WRONG_ELECTION, /* another election's fingerprint */
    PINGYI_GATE_UNKNOWN_VENUE = PINGYI_ERROR_UNKNOWN_VENUE,   /* a venue not in the definition */
} pingyi_gate_t;

/*  Check a request naming the election `fingerprint` (PINGYI_FP_LEN bytes)
    and the venue `venue` (venue_len bytes, not NUL-terminated, from the
    wire), sent by the authenticated venue `sender` (sender_len bytes), or by
    a key that speaks for no venue (sender NULL: no sender check).  On
    PINGYI_GATE_OK *venue_index is the venue's index and reason is ""; on a
    refusal *venue_index is -1 and reason (cap bytes) says why in one
    sentence:
      FORBIDDEN       "venue v02 may not speak for venue v01"
      WRONG_ELECTION  "another election's fingerprint; this is election E (hex)"
      UNKNOWN_VENUE   "venue v99 is not in election E"
    The broker and the worker answer UNKNOWN_VENUE with the reason as it is.  */
pingyi_gate_t pingyi_venue_gate (const pingyi_election_t *election, const uint8_t *fingerprint,
                                 const char *venue, size_t venue_len, const char *sender, size_t sender_len,
                                 int *venue_index, char *reason, size_t cap) PINGYI_WARN_UNUSED;

/*  The ERROR code a refusal is answered with (0 for PINGYI_GATE_OK).  */
static inline pingyi_error_code_t
pingyi_venue_gate_error (pingyi_gate_t gate)
{
    return (pingyi_error_code_t) gate;
}

#endif
