/*  tally_json.h — a merged tally as JSON, both ways.

    One format, two producers: `pingyi tally --json` (offline, from the
    shard files) and the aggregator's GET /api/v1/tally (live, adding
    "api": 1 and each shard's age_ms and stale).  One reader: `pingyi
    query --agg` turns the document back into a pingyi_tally_t and renders
    it exactly like the offline view.  Everything is named by id (venue,
    subject, item, category) and mark label ("好", "BLANK", "OVER"), never
    by index, so a document can only be read with the definition whose
    fingerprint it carries.

        {"api": 1,                                  (aggregator only)
         "election": "<fingerprint, 64 hex>",
         "shards": [{"shard": 0, "sequence": N, "chain": "<64 hex>",
                     "age_ms": N, "stale": false}],  (age_ms, stale: aggregator only)
         "venues": [{"venue": "v01", "accepted": N, "blank": N, "duplicates": N,
                     "rejected": N, "issued": N|-1, "collected": N|-1, "sent": N|-1,
                     "closed": bool, "rejected_by": {"malformed": N, ...}}],
         "counters": [{"venue": "v01", "subject": "s01", "item": "overall",
                       "category": "leaders", "mark": "好", "count": N}]}

    The reader trusts nothing: every name is looked up, every number
    range-checked, a venue may appear once, a counter must name a subject
    on that venue's form; the first problem is reported with its JSON path
    and the offending text quoted safely.  Keys it does not know are
    ignored (a newer producer may add some; "api" changes when a change is
    incompatible).  */
#ifndef PINGYI_TALLY_JSON_H
#define PINGYI_TALLY_JSON_H

#include "tally.h"

#include <jansson.h>

#define PINGYI_TALLY_JSON_API 1 /* the "api" version this code writes and reads */

/*  One shard's line in "shards".  */
typedef struct {
    uint32_t shard;
    uint64_t sequence; /* accepted ballots in its log */
    uint8_t chain[32]; /* hash chain head */
    int64_t age_ms;    /* how old the aggregator's snapshot is; -1: not given (offline) */
    bool stale;        /* the aggregator considers it stale */
} pingyi_tally_shard_t;

/*  Flags for pingyi_tally_write_json.  */
#define PINGYI_TALLY_JSON_WITH_API 1u /* write "api": 1 first (the aggregator's document) */

/*  Write the document: shards as given (age_ms/stale written when age_ms
    >= 0), every venue's figures, every non-zero counter in tally order.
    Streams (a city's counters are millions of lines): no document is
    built in memory.  Without flags the bytes are those `pingyi tally
    --json` has always printed.  0, or -1 with err on a write error.  */
int pingyi_tally_write_json (const pingyi_tally_t *tally, const pingyi_election_t *election,
                             const pingyi_tally_shard_t *shards, size_t shard_count, unsigned flags,
                             FILE *out, char *err);

/*  Fill tally from a parsed document (it is reset first): the document's
    "election" must be election's fingerprint; every venue, subject, item,
    category, mark and rejection reason must exist; counts are integers in
    range.  On error the tally is left reset (never half-filled) and err
    names the first problem: `counters[12].subject: unknown subject "s99"`.
    0 / -1.  */
int pingyi_tally_from_json (pingyi_tally_t *tally, const pingyi_election_t *election, const json_t *doc,
                            char *err);

/*  The "shards" list of a document (checked like the rest: shard numbers
    below the election's shard count, each once), at most shard_count of
    election entries into shards.  Returns how many, or -1 with err.  A
    document without "shards" has none.  */
int pingyi_tally_shards_from_json (const pingyi_election_t *election, const json_t *doc,
                                   pingyi_tally_shard_t *shards, char *err);

/*  Quote untrusted text for an error line: at most 48 bytes (cut on a
    character boundary, then "..."), control characters, quotes and
    backslashes escaped, inside double quotes.  out has cap bytes (>= 8).  */
void pingyi_quote_text (char *out, size_t cap, const char *s, size_t len);

#endif
