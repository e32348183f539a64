/*  gate.c — the venue gate (gate.h): one rule for the broker and the
    worker.  Pure: the definition and the bytes of the request, no socket,
    no counter, no log line; the callers keep theirs.  */
#include "gate.h"

#include <stdio.h>
#include <string.h>

pingyi_gate_t
pingyi_venue_gate (const pingyi_election_t *election, const uint8_t *fingerprint, const char *venue,
                   size_t venue_len, const char *sender, size_t sender_len, int *venue_index, char *reason,
                   size_t cap)
{
    *venue_index = -1;
    if (cap)
        reason[0] = '\0';
    if (sender && (venue_len != sender_len || memcmp (venue, sender, sender_len) != 0)) {
        snprintf (reason, cap, "venue %.*s may not speak for venue %.*s", (int) sender_len, sender,
                  (int) venue_len, venue);
        return PINGYI_GATE_FORBIDDEN;
    }
    if (memcmp (fingerprint, election->fingerprint, PINGYI_FP_LEN) != 0) {
        snprintf (reason, cap, "another election's fingerprint; this is election %s (%s)", election->id,
                  election->fingerprint_hex);
        return PINGYI_GATE_WRONG_ELECTION;
    }
    int v = pingyi_election_venue (election, venue, venue_len);
    if (v < 0) {
        snprintf (reason, cap, "venue %.*s is not in election %s", (int) venue_len, venue, election->id);
        return PINGYI_GATE_UNKNOWN_VENUE;
    }
    *venue_index = v;
    return PINGYI_GATE_OK;
}
