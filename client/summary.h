/*  summary.h — what the venue client prints when it is done, and the exit
    status it chooses (docs/client.md, docs/exit-codes.md): the outbox's
    figures, where the voters' tracking codes are, and, once the venue's
    close was answered, the reconciliation: reconciled, or VOID and why.

    Pure: everything comes in a pingyi_summary_t, the text goes to the
    stream given (tests/unit/test_client_summary.c reads it back).  */
#ifndef PINGYI_CLIENT_SUMMARY_H
#define PINGYI_CLIENT_SUMMARY_H

#include "outbox.h"
#include "rollup.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    const char *venue_id;
    pingyi_outbox_stats_t outbox; /* the outbox's figures at the end of the run */
    double seconds;               /* the run's length */
    const char *receipts;         /* the tracking codes' file ... */
    uint64_t receipt_count;       /* ... and how many it holds */
    bool receipts_ok;             /* false: they could not be written */
    uint64_t forged_acks;         /* ACKs refused: MAC does not verify */
    uint64_t forged_statuses;     /* VENUE_STATUS refused: MAC does not verify */
    const char *stopped;          /* why the run stopped before the end, or NULL */
    bool reconciled;              /* the close was answered with the shard's figures: */
    pingyi_venue_figures_t figures;
} pingyi_summary_t;

/*  The summary as lines of text (json false) or one JSON object on one
    line (json true), to out.  */
void pingyi_summary_print (const pingyi_summary_t *s, bool json, FILE *out);

/*  Whether the shard's figures make the round VOID, and why (a line of at
    most cap bytes: "collected 12 > issued 10", ...).  */
bool pingyi_summary_void (const pingyi_venue_figures_t *f, char *why, size_t cap);

/*  The exit status of a run that ended with `code` (PINGYI_EXIT_OK, or
    _FAILED when a close was held back by bad lines, or _UNREACHED): no
    tracking codes written is fatal; a void round is not a success whatever
    else went well; bad lines make a success a failure.  */
int pingyi_summary_exit_code (const pingyi_summary_t *s, int code);

#endif
