/*  tally_json.h — a merged tally as JSON, both ways; and the released
    view as JSON, both ways.

    The tally document.  Two producers: `pingyi tally --json` (offline,
    from the shard files, every figure and counter) and the aggregator's
    GET /api/v1/tally (live and released: "api": 1, each shard's age_ms
    and stale, and only what the view's release lets out, rollup.h).  One
    reader.  Everything is named by id (venue, subject, item, category) and
    mark label ("好", "BLANK", "OVER"), never by index, so a document can
    only be read with the definition whose fingerprint it carries.

        {"api": 1,                                  (aggregator only)
         "election": "<fingerprint, 64 hex>",
         "shards": [{"shard": 0, "sequence": N, "digest": "<64 hex>",
                     "age_ms": N, "stale": false}],  (age_ms, stale: aggregator only)
         "venues": [{"venue": "v01", "accepted": N, "blank": N, "duplicates": N,
                     "rejected": N, "issued": N|-1, "collected": N|-1, "sent": N|-1,
                     "closed": bool, "rejected_by": {"malformed": N, ...},
                     "by_category": {"leaders": N, ...},
                     "suppressed_categories": ["served", ...]}],   (released only)
         "counters": [{"venue": "v01", "subject": "s01", "item": "overall",
                       "category": "leaders", "mark": "好", "count": N}]}

    by_category lists the categories with ballots (offline: when the shard
    recorded them); in a released document only the (venue, category)
    groups the release lets out, the others named in
    suppressed_categories, and the counters of those groups are left out.

    The view document (GET /api/v1/view; what `pingyi query --agg`
    renders): the released view itself, because the totals of a released
    view count ballots (merged up) that no released tally shows.

        {"api": 1, "election": "<fingerprint>", "k_anonymity": k,
         ...members the aggregator adds (round, merged_round, ...),
         "shards": [as above],
         "venues": [as in the released tally document],
         "levels": {"subject": [{"id": "s01", "suppressed": false,
                                 "cells": [[C, ..., C] per item: one per category, then all]}],
                    "unit": [...], "town": [...], "department": [...], "kind": [...],
                    "district": [...], "city": [...]}}
        C = null (suppressed) | [choice counts..., blank, over, score | null]

    Scores are written with 17 significant digits, so a view read back
    renders to the same bytes as the view written.

    The readers trust nothing: every name is looked up, every number
    range-checked, a venue may appear once, a counter must name a subject
    on that venue's form, a view's rows must be the definition's rows in
    order; the first problem is reported with its JSON path and the
    offending text quoted safely.  Keys they do not know are ignored (a
    newer producer may add some; "api" changes when a change is
    incompatible).  */
#ifndef PINGYI_TALLY_JSON_H
#define PINGYI_TALLY_JSON_H

#include "rollup.h"

#include <jansson.h>

#define PINGYI_TALLY_JSON_API 1 /* the "api" version this code writes and reads */

/*  One shard's line in "shards".  */
typedef struct {
    uint32_t shard;
    uint64_t sequence;  /* ballots in its log (live: at its last settled point) */
    uint8_t digest[32]; /* the log's digest at that point */
    int64_t age_ms;     /* how old the aggregator's snapshot is; -1: not given (offline) */
    bool stale;         /* the aggregator considers it stale */
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

/*  The released document: as pingyi_tally_write_json, but a (venue,
    category) group view's release withholds (pingyi_view_group_hidden)
    has neither counters nor a by_category figure, and every venue lists
    its suppressed_categories.  view is the view of tally.  0 / -1.  */
int pingyi_tally_write_released_json (const pingyi_tally_t *tally, const pingyi_view_t *view,
                                      const pingyi_tally_shard_t *shards, size_t shard_count, unsigned flags,
                                      FILE *out, char *err);

/*  Fill tally from a parsed document (it is reset first): the document's
    "election" must be election's fingerprint; every venue, subject, item,
    category, mark and rejection reason must exist; counts are integers in
    range.  On error the tally is left reset (never half-filled) and err
    names the first problem: `counters[12].subject: unknown subject "s99"`.
    A released document's suppressed categories are checked and left out
    (the tally then lacks those groups' ballots).  0 / -1.  */
int pingyi_tally_from_json (pingyi_tally_t *tally, const pingyi_election_t *election, const json_t *doc,
                            char *err);

/*  The "shards" list of a document (checked like the rest: shard numbers
    below the election's shard count, each once), at most shard_count of
    election entries into shards.  Returns how many, or -1 with err.  A
    document without "shards" has none.  */
int pingyi_tally_shards_from_json (const pingyi_election_t *election, const json_t *doc,
                                   pingyi_tally_shard_t *shards, char *err);

/*  The view document (above): "api", election, k_anonymity, then extra
    (JSON members without braces, e.g. "\"round\":9", or NULL), shards
    (age_ms and stale written when age_ms >= 0), the venues (released),
    every row of every level.  Streams.  0 / -1 with err.  */
int pingyi_view_write_json (const pingyi_view_t *view, const pingyi_tally_shard_t *shards, size_t shard_count,
                            const char *extra, FILE *out, char *err);

/*  A view from a view document: "election" must be election's fingerprint
    and "k_anonymity" its k; venues as in a tally document; every level's
    rows the definition's, in order, with cells of the right shapes (a
    suppressed row has only null cells; a category is null for every item
    or for none).  Rates, valid counts and ranks are derived as
    pingyi_view_new derives them.  NULL with err.  */
pingyi_view_t *pingyi_view_from_json (const pingyi_election_t *election, const json_t *doc, char *err);

#endif
