/*  reject.h — the two code spaces of the wire: why a ballot (or its
    envelope) was refused, and why a request was (docs/PROTOCOL.md §7, §8).

    Reject codes travel in ACK results and in venue figures (rejected_by),
    and a shard stores its counts by code: never renumber, only append.
    PINGYI_REJECT_SLOTS is the one place the number of slots a figures
    record holds is written (index = code, 0..15); the named codes are
    those below PINGYI_REJECT_COUNT_, the rest of the slots are room to
    append codes without a storage change.  A code a receiver has no slot
    for (16..255) is still accepted on the wire and counted in slot 0,
    "other" (proto/msg.c, read_rejected_by).  */
#ifndef PINGYI_REJECT_H
#define PINGYI_REJECT_H

#include <stdint.h>

typedef enum {
    PINGYI_REJECT_NONE = 0,
    PINGYI_REJECT_BAD_ENVELOPE = 1,   /* envelope bytes do not parse, or outside 91..4600 bytes */
    PINGYI_REJECT_WRONG_ELECTION = 2, /* fingerprint is not this election's */
    PINGYI_REJECT_UNKNOWN_VENUE = 3,  /* venue id not in the definition */
    PINGYI_REJECT_VENUE_MISMATCH = 4, /* header venue is not the sender's */
    PINGYI_REJECT_WRONG_SHARD = 5,    /* venue is not on this shard */
    PINGYI_REJECT_DECRYPT = 6,        /* authentication failed */
    PINGYI_REJECT_MALFORMED = 7,      /* body is not a ballot */
    PINGYI_REJECT_NOT_ON_FORM = 8,    /* a subject not on the venue's form, or one missing */
    PINGYI_REJECT_BAD_CATEGORY = 9,   /* unknown rater category */
    PINGYI_REJECT_BAD_MARK = 10,      /* a tick outside the item's choice set */
    PINGYI_REJECT_VENUE_CLOSED = 11,  /* the venue has closed its round */
    PINGYI_REJECT_COUNT_              /* codes named by this version (0 included) */
} pingyi_reject_t;

/*  Slots of rejected_by[] in venue figures, in a shard's storage and in the
    views: index = code, slot 0 = "other" (codes of 16 and up, counted by a
    receiver that has no slot for them).  */
#define PINGYI_REJECT_SLOTS 16
/*  Largest reject code on the wire (an ACK's reason, a rejected_by key).  */
#define PINGYI_REJECT_CODE_MAX 255

_Static_assert(PINGYI_REJECT_COUNT_ <= PINGYI_REJECT_SLOTS, "every named reject code has its slot");

/*  Short stable name of a code: "bad_envelope", "not_on_form", ...;
    "unknown" for a code this version does not name.  Stored and shown to
    operators: never rename.  */
const char *pingyi_reject_name (pingyi_reject_t code);

/*  ERROR codes (the `code` field of ERROR).  */
typedef enum {
    PINGYI_ERROR_BAD_MESSAGE = 1, /* did not decode */
    PINGYI_ERROR_FORBIDDEN = 2,   /* the sender's role may not send this */
    PINGYI_ERROR_WRONG_ELECTION = 3,
    PINGYI_ERROR_UNKNOWN_PEER = 4, /* a worker the broker does not know: send HELLO */
    PINGYI_ERROR_UNKNOWN_VENUE = 5,
    PINGYI_ERROR_INTERNAL = 6,
    PINGYI_ERROR_DISPLACED = 7, /* broker → worker: another connection with this key took its shards */
    PINGYI_ERROR_COUNT_         /* codes named by this version (0 included) */
} pingyi_error_code_t;

/*  The name of an ERROR code as docs/PROTOCOL.md §8 writes it:
    "BAD_MESSAGE", ..., "DISPLACED"; "UNKNOWN_CODE" for any other (a client
    treats an unknown code as INTERNAL).  */
const char *pingyi_error_strerror (uint32_t code);

#endif
