/*  reject.c — names of the reject codes and ERROR codes (reject.h).  One
    table each: the client, the worker, the store, the reports and the
    tools all print these through here.  */
#include "reject.h"

const char *
pingyi_reject_name (pingyi_reject_t code)
{
    /*  Stored and shown by operators: never rename.  */
    static const char *const names[PINGYI_REJECT_COUNT_] = {
        [PINGYI_REJECT_NONE] = "none",
        [PINGYI_REJECT_BAD_ENVELOPE] = "bad_envelope",
        [PINGYI_REJECT_WRONG_ELECTION] = "wrong_election",
        [PINGYI_REJECT_UNKNOWN_VENUE] = "unknown_venue",
        [PINGYI_REJECT_VENUE_MISMATCH] = "venue_mismatch",
        [PINGYI_REJECT_WRONG_SHARD] = "wrong_shard",
        [PINGYI_REJECT_DECRYPT] = "decrypt",
        [PINGYI_REJECT_MALFORMED] = "malformed",
        [PINGYI_REJECT_NOT_ON_FORM] = "not_on_form",
        [PINGYI_REJECT_BAD_CATEGORY] = "bad_category",
        [PINGYI_REJECT_BAD_MARK] = "bad_mark",
        [PINGYI_REJECT_VENUE_CLOSED] = "venue_closed",
    };
    if ((unsigned) code >= PINGYI_REJECT_COUNT_)
        return "unknown";
    return names[code];
}

const char *
pingyi_error_strerror (uint32_t code)
{
    static const char *const names[PINGYI_ERROR_COUNT_] = {
        [PINGYI_ERROR_BAD_MESSAGE] = "BAD_MESSAGE",       [PINGYI_ERROR_FORBIDDEN] = "FORBIDDEN",
        [PINGYI_ERROR_WRONG_ELECTION] = "WRONG_ELECTION", [PINGYI_ERROR_UNKNOWN_PEER] = "UNKNOWN_PEER",
        [PINGYI_ERROR_UNKNOWN_VENUE] = "UNKNOWN_VENUE",   [PINGYI_ERROR_INTERNAL] = "INTERNAL",
        [PINGYI_ERROR_DISPLACED] = "DISPLACED",
    };
    if (code == 0 || code >= PINGYI_ERROR_COUNT_)
        return "UNKNOWN_CODE";
    return names[code];
}
