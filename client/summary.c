/*  summary.c — the venue client's last words (summary.h): the outbox's
    figures, the receipts, the reconciliation, and the exit status.  The
    texts are read by clerks and by scripts (tests/integration): change
    none of them lightly.  */
#include "summary.h"

#include "cli.h"
#include "reject.h"

#include <inttypes.h>
#include <jansson.h>
#include <string.h>

bool
pingyi_summary_void (const pingyi_venue_figures_t *f, char *why, size_t cap)
{
    return pingyi_venue_void_why (f, why, cap) > 0;
}

/*  Slot 0 holds the codes this version has no name or slot for.  */
static const char *
reject_label (int code, char *buf, size_t cap)
{
    if (code == 0)
        return "other";
    const char *name =
        code > 0 && code < PINGYI_REJECT_COUNT_ ? pingyi_reject_name ((pingyi_reject_t) code) : NULL;
    if (name)
        return name;
    snprintf (buf, cap, "code_%d", code);
    return buf;
}

static json_t *
rejections_json (const uint64_t *by, int count)
{
    json_t *o = json_object ();
    for (int code = 0; code < count; code++)
        if (by[code]) {
            char buf[32];
            json_object_set_new (o, reject_label (code, buf, sizeof buf),
                                 json_integer ((json_int_t) by[code]));
        }
    return o;
}

/*  " (name n, name n)", or "" when there are none.  */
static void
rejections_text (char *out, size_t cap, const uint64_t *by, int count)
{
    out[0] = '\0';
    for (int code = 0; code < count; code++)
        if (by[code]) {
            char buf[32];
            size_t used = strlen (out);
            snprintf (out + used, cap - used, "%s%s %" PRIu64, used ? ", " : " (",
                      reject_label (code, buf, sizeof buf), by[code]);
        }
    if (out[0]) {
        size_t used = strlen (out);
        snprintf (out + used, cap - used, ")");
    }
}

static void
print_json (const pingyi_summary_t *s, bool v, const char *why, FILE *out)
{
    const pingyi_outbox_stats_t *st = &s->outbox;
    const pingyi_venue_figures_t *f = &s->figures;
    json_t *o = json_object ();
    json_object_set_new (o, "venue", json_string (s->venue_id));
    json_object_set_new (o, "ballots_read", json_integer ((json_int_t) st->ingested));
    json_object_set_new (o, "bad_lines", json_integer ((json_int_t) st->bad_lines));
    json_object_set_new (o, "accepted", json_integer ((json_int_t) st->accepted));
    json_object_set_new (o, "duplicates", json_integer ((json_int_t) st->duplicates));
    json_object_set_new (o, "rejected", rejections_json (st->rejected_by, PINGYI_REJECT_COUNT_));
    json_object_set_new (o, "pending", json_integer ((json_int_t) st->pending));
    json_object_set_new (o, "seconds", json_real (s->seconds));
    json_object_set_new (o, "receipts", s->receipts_ok ? json_string (s->receipts) : json_null ());
    json_object_set_new (o, "receipt_count", json_integer ((json_int_t) s->receipt_count));
    json_t *refused = json_object ();
    json_object_set_new (refused, "forged_acks", json_integer ((json_int_t) s->forged_acks));
    json_object_set_new (refused, "forged_statuses", json_integer ((json_int_t) s->forged_statuses));
    json_object_set_new (refused, "receipt_mismatch", json_integer ((json_int_t) st->receipt_mismatch));
    json_object_set_new (o, "refused", refused);
    if (s->stopped)
        json_object_set_new (o, "stopped", json_string (s->stopped));
    if (s->reconciled) {
        json_t *r = json_object ();
        json_object_set_new (r, "issued", json_integer (f->issued));
        json_object_set_new (r, "collected", json_integer (f->collected));
        json_object_set_new (r, "sent", json_integer (f->sent));
        json_object_set_new (r, "received", json_integer ((json_int_t) (f->accepted + f->duplicates)));
        json_object_set_new (r, "accepted", json_integer ((json_int_t) f->accepted));
        json_object_set_new (r, "blank", json_integer ((json_int_t) f->blank));
        json_object_set_new (r, "duplicates", json_integer ((json_int_t) f->duplicates));
        json_object_set_new (r, "rejected", rejections_json (f->rejected_by, PINGYI_REJECT_SLOTS));
        json_object_set_new (r, "closed", json_boolean (f->closed));
        json_object_set_new (r, "void", json_boolean (v));
        json_object_set_new (r, "void_reason", v ? json_string (why) : json_null ());
        json_object_set_new (o, "reconciliation", r);
    }
    else
        json_object_set_new (o, "reconciliation", json_null ());
    json_dumpf (o, out, JSON_COMPACT | JSON_REAL_PRECISION (6));
    fputc ('\n', out);
    json_decref (o);
}

void
pingyi_summary_print (const pingyi_summary_t *s, bool json, FILE *out)
{
    const pingyi_outbox_stats_t *st = &s->outbox;
    const pingyi_venue_figures_t *f = &s->figures;
    char why[160];
    bool v = s->reconciled && pingyi_summary_void (f, why, sizeof why);
    if (json) {
        print_json (s, v, why, out);
        fflush (out);
        return;
    }
    char rej[512];
    rejections_text (rej, sizeof rej, st->rejected_by, PINGYI_REJECT_COUNT_);
    fprintf (out,
             "venue %s: read %" PRIu64 " ballots, %" PRIu64 " bad line%s; accepted %" PRIu64
             ", duplicates %" PRIu64 ", rejected %" PRIu64 "%s; pending %" PRIu64 "; %.1f s\n",
             s->venue_id, st->ingested, st->bad_lines, st->bad_lines == 1 ? "" : "s", st->accepted,
             st->duplicates, st->rejected, rej, st->pending, s->seconds);
    if (s->receipts_ok)
        fprintf (out, "receipts: %s (%" PRIu64 " tracking codes)\n", s->receipts, s->receipt_count);
    if (s->reconciled) {
        rejections_text (rej, sizeof rej, f->rejected_by, PINGYI_REJECT_SLOTS);
        uint64_t rejected = 0;
        for (int i = 0; i < PINGYI_REJECT_SLOTS; i++)
            rejected += f->rejected_by[i];
        fprintf (out,
                 "venue %s: issued %" PRId64 ", collected %" PRId64 ", received %" PRIu64
                 ", accepted %" PRIu64 " (blank %" PRIu64 "), rejected %" PRIu64 "%s \xe2\x80\x94 %s%s\n",
                 s->venue_id, f->issued, f->collected, f->accepted + f->duplicates, f->accepted, f->blank,
                 rejected, rej, v ? "VOID: " : "reconciled", v ? why : "");
    }
    if (s->stopped)
        fprintf (out, "stopped: %s; run the same command again to finish (the outbox keeps everything)\n",
                 s->stopped);
    fflush (out);
}

int
pingyi_summary_exit_code (const pingyi_summary_t *s, int code)
{
    if (!s->receipts_ok)
        return PINGYI_EXIT_START; /* the voters' tracking codes were not written: not done */
    if ((code == PINGYI_EXIT_OK || code == PINGYI_EXIT_FAILED) && s->reconciled &&
        pingyi_summary_void (&s->figures, NULL, 0))
        return PINGYI_EXIT_VOID; /* a void round is not a success, whatever else went well */
    if (code == PINGYI_EXIT_OK && s->outbox.bad_lines)
        return PINGYI_EXIT_FAILED;
    return code;
}
