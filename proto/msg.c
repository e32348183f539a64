/*  msg.c — the pingyi wire protocol, version 3: strict decoder and encoders.

    Every frame arrives from the network and is hostile until this file says
    otherwise.  The decoder reads through the allocation-free cursor of mp.c,
    so a declared length is always checked against the bytes really present
    before anything trusts it; it checks the version, then the type, then the
    exact arity, then every field's type and bound, and finally that nothing
    trails the message.  Lists are validated item by item here, once; the
    pingyi_list_next_* walkers then re-read the same bytes with the same item
    readers, which is why they cannot fail.

    Invariants:
    - no allocation and no recursion: the schema is fixed, the deepest value
      (a count in SNAPSHOT.venues[i].rejected_by) sits in a map three arrays
      down;
    - on failure err names the message and the field, then the reason, e.g.
      "SUBMIT.envelopes[3]: expected bin, got str"; msg is zeroed first so a
      caller that ignores the result reads nothing stale;
    - the encoders and decoder share the field order below; docs/PROTOCOL.md
      carries the same tables.  */
#include "msg.h"
#include "bytes.h"

#include <inttypes.h>
#include <sodium.h>
#include <string.h>

/*  Shard numbers are 0..255 (at most 256 shards per election).  */
#define PINGYI_MAX_SHARD_INDEX 255

/* -------------------------------------------------------------------------
   Names  */

static const char *const type_names[PINGYI_MSG_TYPE_MAX_ + 1] = {
    NULL,       "HELLO",       "READY",      "HEARTBEAT",   "SUBMIT",       "ACK",
    "RETRY",    "ERROR",       "VENUE_OPEN", "VENUE_CLOSE", "VENUE_STATUS", "TALLY_QUERY",
    "SNAPSHOT", "STATS_QUERY", "STATS",      "FORWARD",     "REPLY",        "VENUE_REOPEN",
    "MONITOR_QUERY", "MONITOR",
};

/*  Array length of each message, version and type included.  */
static const uint32_t arity[PINGYI_MSG_TYPE_MAX_ + 1] = {
    0, 5, 3, 2, 6, 5, 5, 5, 5, 9, 5, 5, 13, 4, 5, 6, 4, 8, 4, 11,
};

static const char *const role_names[] = {
    "none", "venue", "worker", "aggregator", "operator", "broker", "shard",
};
#define ROLE_COUNT (sizeof role_names / sizeof role_names[0])

const char *
pingyi_role_name (pingyi_role_t role)
{
    if ((unsigned) role < ROLE_COUNT)
        return role_names[role];
    return "unknown";
}

pingyi_role_t
pingyi_role_parse (const char *name, size_t len)
{
    if (!name)
        return PINGYI_ROLE_NONE;
    for (size_t i = 1; i < ROLE_COUNT; i++)
        if (strlen (role_names[i]) == len && !memcmp (role_names[i], name, len))
            return (pingyi_role_t) i;
    return PINGYI_ROLE_NONE;
}

const char *
pingyi_msg_type_name (int type)
{
    if (type >= 1 && type <= PINGYI_MSG_TYPE_MAX_)
        return type_names[type];
    return "UNKNOWN";
}

/* -------------------------------------------------------------------------
   Item readers, shared by validation (decode) and the list walkers.

   Each reads one list item at the cursor.  On failure it fills a fault: the
   sub-field under the item ("" for the item itself, ".text", ...) and the
   reason, so the decoder can say "ACK.results[2].text: str too long".  */

typedef struct {
    char where[32];
    char why[64];
} fault_t;

static int
fault_mp (fault_t *f, const pingyi_mp_t *r, const char *where)
{
    snprintf (f->where, sizeof f->where, "%s", where);
    snprintf (f->why, sizeof f->why, "%s", r->err ? r->err : "invalid");
    return -1;
}

/*  Strings end up in C strings, logs and LMDB keys on the other side, so
    they must be UTF-8 without NUL; names (ids, stat names) carry no control
    character at all.  Returns NULL or the reason.  */
typedef enum { STR_TEXT, STR_NAME, STR_RECEIPT } str_kind_t;

static const char *
str_problem (const char *p, uint32_t len, str_kind_t kind)
{
    const uint8_t *s = (const uint8_t *) p;
    if (kind == STR_RECEIPT) {
        /* Empty, or exactly the 16 lowercase hex digits of a tracking code.  */
        if (len != 0 && len != PINGYI_RECEIPT_LEN)
            return "receipt must be empty or 16 hex digits";
        for (uint32_t i = 0; i < len; i++)
            if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                return "receipt must be empty or 16 hex digits";
        return NULL;
    }
    for (uint32_t i = 0; i < len;) {
        uint8_t c = s[i];
        if (c == 0)
            return "str contains NUL";
        if (kind == STR_NAME && (c < 0x20 || c == 0x7f))
            return "str contains a control character";
        size_t n = pingyi_utf8_char (s + i, len - i); /* the one UTF-8 rule (proto/common.h) */
        if (n == 0)
            return "str is not valid UTF-8";
        i += (uint32_t) n;
    }
    return NULL;
}

static int
read_checked_str (pingyi_mp_t *r, pingyi_str_t *out, uint32_t min, uint32_t max, str_kind_t kind)
{
    if (pingyi_mp_str (r, &out->p, &out->len, min, max))
        return -1;
    const char *why = str_problem (out->p, out->len, kind);
    if (why) {
        r->err = why;
        r->p = r->end;
        return -1;
    }
    return 0;
}

/*  An array of exactly `want` items.  */
static int
read_tuple (pingyi_mp_t *r, uint32_t want, const char *noun, const char *where, fault_t *f)
{
    uint32_t n;
    if (pingyi_mp_array (r, &n, UINT32_MAX))
        return fault_mp (f, r, where);
    if (n != want) {
        snprintf (f->where, sizeof f->where, "%s", where);
        snprintf (f->why, sizeof f->why, "expected %" PRIu32 " %s, got %" PRIu32, want, noun, n);
        /* Poison the cursor as mp.c does on its own failures.  */
        r->err = "wrong arity";
        r->p = r->end;
        return -1;
    }
    return 0;
}

static int
read_shard_item (pingyi_mp_t *r, uint64_t *v, fault_t *f)
{
    if (pingyi_mp_uint (r, v, PINGYI_MAX_SHARD_INDEX))
        return fault_mp (f, r, "");
    return 0;
}

/*  Any length: an envelope outside 91..PINGYI_ENVELOPE_MAX bytes is one
    bad envelope, refused in its own ACK result (bad_envelope) while the
    rest of its SUBMIT is applied; the frame limit bounds it here.  */
static int
read_envelope_item (pingyi_mp_t *r, pingyi_bin_t *v, fault_t *f)
{
    if (pingyi_mp_bin (r, &v->p, &v->len, 0, PINGYI_INNER_MAX))
        return fault_mp (f, r, "");
    return 0;
}

static int
read_ack_item (pingyi_mp_t *r, pingyi_ack_t *a, fault_t *f)
{
    const uint8_t *id;
    uint64_t status, reason;
    if (read_tuple (r, 5, "fields", "", f))
        return -1;
    if (pingyi_mp_bin_fixed (r, &id, PINGYI_BALLOT_ID_LEN))
        return fault_mp (f, r, ".ballot_id");
    if (pingyi_mp_uint (r, &status, PINGYI_ACK_REJECTED))
        return fault_mp (f, r, ".status");
    if (pingyi_mp_uint (r, &reason, 255))
        return fault_mp (f, r, ".reason");
    if (read_checked_str (r, &a->text, 0, PINGYI_TEXT_MAX, STR_TEXT))
        return fault_mp (f, r, ".text");
    if (read_checked_str (r, &a->receipt, 0, PINGYI_RECEIPT_LEN, STR_RECEIPT))
        return fault_mp (f, r, ".receipt");
    memcpy (a->ballot_id, id, PINGYI_BALLOT_ID_LEN);
    a->status = (uint8_t) status;
    a->reason = (uint8_t) reason;
    return 0;
}

/*  A count block: [venue, subject, cells], cells a whole number of u32
    (their count against the election's shape is the receiver's check).  */
static int
read_block_item (pingyi_mp_t *r, pingyi_block_t *row, fault_t *f)
{
    uint64_t venue, subject;
    if (read_tuple (r, 3, "fields", "", f))
        return -1;
    if (pingyi_mp_uint (r, &venue, 0xffff))
        return fault_mp (f, r, ".venue");
    if (pingyi_mp_uint (r, &subject, 0xffff))
        return fault_mp (f, r, ".subject");
    uint32_t len;
    if (pingyi_mp_bin (r, &row->cells, &len, 4, PINGYI_BLOCK_BYTES_MAX))
        return fault_mp (f, r, ".cells");
    if (len % 4) {
        snprintf (f->where, sizeof f->where, ".cells");
        snprintf (f->why, sizeof f->why, "%" PRIu32 " bytes, not whole u32 cells", len);
        return -1;
    }
    row->len = len;
    row->venue = (uint32_t) venue;
    row->subject = (uint32_t) subject;
    return 0;
}

static int
read_stat_item (pingyi_mp_t *r, pingyi_stat_t *s, fault_t *f)
{
    if (read_tuple (r, 2, "fields", "", f))
        return -1;
    if (read_checked_str (r, &s->name, 1, PINGYI_NAME_MAX, STR_NAME))
        return fault_mp (f, r, ".name");
    if (pingyi_mp_uint (r, &s->value, UINT64_MAX))
        return fault_mp (f, r, ".value");
    return 0;
}

/*  rejected_by: a map {code: count}, keys ascending from 1 to
    PINGYI_REJECT_CODE_MAX, counts at least 1 (only non-zero entries are
    written).  A code this receiver has a slot for is kept in it; a higher
    one (a code appended by a later version) is added to slot 0, "other",
    so the sum of the slots is always the sum on the wire.  */
static int
read_rejected_by (pingyi_mp_t *r, uint64_t by[PINGYI_REJECT_SLOTS], fault_t *f)
{
    uint32_t n;
    uint64_t last = 0;
    if (pingyi_mp_map (r, &n, PINGYI_REJECT_CODE_MAX))
        return fault_mp (f, r, ".rejected_by");
    for (uint32_t i = 0; i < n; i++) {
        uint64_t code, count;
        if (pingyi_mp_uint (r, &code, PINGYI_REJECT_CODE_MAX))
            return fault_mp (f, r, ".rejected_by: code");
        if (code <= last) {
            snprintf (f->where, sizeof f->where, ".rejected_by");
            snprintf (f->why, sizeof f->why, "code %" PRIu64 " %s", code,
                      code == 0 ? "is not a reject code" : "out of order (codes ascend, each once)");
            r->err = "bad key";
            r->p = r->end;
            return -1;
        }
        last = code;
        if (pingyi_mp_uint (r, &count, UINT64_MAX))
            return fault_mp (f, r, ".rejected_by: count");
        if (count == 0) {
            snprintf (f->where, sizeof f->where, ".rejected_by");
            snprintf (f->why, sizeof f->why, "code %" PRIu64 " has count 0 (only non-zero entries)", code);
            r->err = "bad count";
            r->p = r->end;
            return -1;
        }
        by[code < PINGYI_REJECT_SLOTS ? code : 0] += count;
    }
    return 0;
}

/*  Venue figures: [venue, accepted, blank, duplicates, rejected,
    rejected_by {code: count}, issued, collected, sent, closed, by_category,
    reopens].  Declared counts may be -1 (not yet known), never lower.  */
static int
read_figures (pingyi_mp_t *r, pingyi_venue_figures_t *v, fault_t *f)
{
    static const char *const counts[] = {".accepted", ".blank", ".duplicates", ".rejected"};
    uint64_t *count_fields[] = {&v->accepted, &v->blank, &v->duplicates, &v->rejected};
    static const char *const declared[] = {".issued", ".collected", ".sent"};
    int64_t *declared_fields[] = {&v->issued, &v->collected, &v->sent};
    uint64_t venue;

    uint64_t reopens;

    if (read_tuple (r, 12, "fields", "", f))
        return -1;
    if (pingyi_mp_uint (r, &venue, UINT32_MAX))
        return fault_mp (f, r, ".venue");
    v->venue = (uint32_t) venue;
    for (int i = 0; i < 4; i++)
        if (pingyi_mp_uint (r, count_fields[i], UINT64_MAX))
            return fault_mp (f, r, counts[i]);
    memset (v->rejected_by, 0, sizeof v->rejected_by);
    if (read_rejected_by (r, v->rejected_by, f))
        return -1;
    for (int i = 0; i < 3; i++)
        if (pingyi_mp_int (r, declared_fields[i], -1, INT64_MAX))
            return fault_mp (f, r, declared[i]);
    if (pingyi_mp_bool (r, &v->closed))
        return fault_mp (f, r, ".closed");
    if (pingyi_mp_array (r, &v->category_count, PINGYI_FIGURES_CATEGORIES))
        return fault_mp (f, r, ".by_category");
    for (uint32_t i = 0; i < v->category_count; i++)
        if (pingyi_mp_uint (r, &v->by_category[i], UINT64_MAX)) {
            char where[32];
            snprintf (where, sizeof where, ".by_category[%" PRIu32 "]", i);
            return fault_mp (f, r, where);
        }
    if (pingyi_mp_uint (r, &reopens, UINT32_MAX))
        return fault_mp (f, r, ".reopens");
    v->reopens = (uint32_t) reopens;
    return 0;
}

/*  MONITOR items (docs/PROTOCOL.md §3, 19).  A nil stands for "none" in
    three places only: a worker never heard, a shard's owner and a venue
    never seen.  */
static int
read_nil_or_uint (pingyi_mp_t *r, bool *present, uint64_t *v)
{
    if (pingyi_mp_peek_nil (r)) {
        *present = false;
        *v = 0;
        return pingyi_mp_nil (r);
    }
    *present = true;
    return pingyi_mp_uint (r, v, UINT64_MAX);
}

static int
read_monitor_worker (pingyi_mp_t *r, pingyi_monitor_worker_t *w, fault_t *f)
{
    uint32_t n;
    uint8_t seen[(PINGYI_MAX_SHARD_INDEX + 1) / 8] = {0};
    if (read_tuple (r, 6, "fields", "", f))
        return -1;
    if (read_checked_str (r, &w->name, 1, PINGYI_NAME_MAX, STR_NAME))
        return fault_mp (f, r, ".name");
    if (pingyi_mp_array (r, &n, PINGYI_SHARDS_LISTED_MAX))
        return fault_mp (f, r, ".shards");
    w->shards.p = r->p;
    w->shards.count = n;
    w->shards.index = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t s;
        char where[32];
        snprintf (where, sizeof where, ".shards[%" PRIu32 "]", i);
        if (pingyi_mp_uint (r, &s, PINGYI_MAX_SHARD_INDEX))
            return fault_mp (f, r, where);
        if (seen[s / 8] & (1u << (s % 8))) {
            snprintf (f->where, sizeof f->where, "%s", where);
            snprintf (f->why, sizeof f->why, "shard %" PRIu64 " listed twice", s);
            r->err = "twice";
            r->p = r->end;
            return -1;
        }
        seen[s / 8] |= (uint8_t) (1u << (s % 8));
    }
    w->shards.end = r->p;
    if (pingyi_mp_bool (r, &w->live))
        return fault_mp (f, r, ".live");
    if (pingyi_mp_uint (r, &w->in_flight, UINT64_MAX))
        return fault_mp (f, r, ".in_flight");
    if (pingyi_mp_uint (r, &w->envelopes_forwarded, UINT64_MAX))
        return fault_mp (f, r, ".envelopes_forwarded");
    if (read_nil_or_uint (r, &w->heard, &w->heartbeat_ms))
        return fault_mp (f, r, ".heartbeat_ms");
    return 0;
}

static int
read_monitor_shard (pingyi_mp_t *r, pingyi_monitor_shard_t *s, fault_t *f)
{
    uint64_t number;
    if (read_tuple (r, 3, "fields", "", f))
        return -1;
    if (pingyi_mp_uint (r, &number, PINGYI_MAX_SHARD_INDEX))
        return fault_mp (f, r, ".number");
    s->number = (uint32_t) number;
    s->owner.p = NULL;
    s->owner.len = 0;
    if (pingyi_mp_peek_nil (r)) {
        if (pingyi_mp_nil (r))
            return fault_mp (f, r, ".owner");
    }
    else if (read_checked_str (r, &s->owner, 1, PINGYI_NAME_MAX, STR_NAME))
        return fault_mp (f, r, ".owner");
    if (read_nil_or_uint (r, &s->unowned, &s->unowned_ms))
        return fault_mp (f, r, ".unowned_ms");
    if ((s->owner.len != 0) == s->unowned) {
        snprintf (f->where, sizeof f->where, ".unowned_ms");
        snprintf (f->why, sizeof f->why, "%s", s->unowned ? "a number although the shard has an owner"
                                                          : "nil although the shard has no owner");
        r->err = "inconsistent";
        r->p = r->end;
        return -1;
    }
    return 0;
}

static int
read_monitor_venue (pingyi_mp_t *r, pingyi_monitor_venue_t *v, fault_t *f)
{
    static const char *const counts[5] = {".envelopes_in", ".accepted", ".duplicate", ".rejected", ".retries"};
    uint64_t *count_fields[5] = {&v->envelopes_in, &v->accepted, &v->duplicate, &v->rejected, &v->retries};
    uint64_t status, reopens;
    if (read_tuple (r, 11, "fields", "", f))
        return -1;
    if (read_checked_str (r, &v->id, 1, PINGYI_NAME_MAX, STR_NAME))
        return fault_mp (f, r, ".id");
    if (pingyi_mp_bool (r, &v->connected))
        return fault_mp (f, r, ".connected");
    if (pingyi_mp_uint (r, &status, PINGYI_MONITOR_CLOSED))
        return fault_mp (f, r, ".status");
    v->status = (uint8_t) status;
    if (pingyi_mp_bool (r, &v->is_void))
        return fault_mp (f, r, ".void");
    if (pingyi_mp_uint (r, &reopens, UINT32_MAX))
        return fault_mp (f, r, ".reopens");
    v->reopens = (uint32_t) reopens;
    for (int i = 0; i < 5; i++)
        if (pingyi_mp_uint (r, count_fields[i], UINT64_MAX))
            return fault_mp (f, r, counts[i]);
    if (read_nil_or_uint (r, &v->seen, &v->last_seen_ms))
        return fault_mp (f, r, ".last_seen_ms");
    return 0;
}

/*  One entry of MONITOR.refusals: name (ascending after *last), count.  */
static int
read_refusal_entry (pingyi_mp_t *r, pingyi_stat_t *s, pingyi_str_t *last, fault_t *f)
{
    if (read_checked_str (r, &s->name, 1, PINGYI_NAME_MAX, STR_NAME))
        return fault_mp (f, r, ": name");
    if (last && last->p) {
        uint32_t m = last->len < s->name.len ? last->len : s->name.len;
        int c = memcmp (last->p, s->name.p, m);
        if (c > 0 || (c == 0 && last->len >= s->name.len)) {
            f->where[0] = '\0';
            snprintf (f->why, sizeof f->why, "%.*s out of order (names ascend, each once)",
                      (int) (s->name.len < 40 ? s->name.len : 40), s->name.p);
            r->err = "bad key";
            r->p = r->end;
            return -1;
        }
    }
    if (last)
        *last = s->name;
    if (pingyi_mp_uint (r, &s->value, UINT64_MAX))
        return fault_mp (f, r, ": count");
    return 0;
}

/* -------------------------------------------------------------------------
   List walkers.  The bytes were validated by the decoder with the very same
   readers, so a failure here means the caller handed the wrong list kind:
   the walk then simply ends.  */

static bool
list_open (pingyi_list_t *list, pingyi_mp_t *r)
{
    if (!list || list->index >= list->count || !list->p)
        return false;
    pingyi_mp_init (r, list->p, (size_t) (list->end - list->p));
    return true;
}

static bool
list_step (pingyi_list_t *list, pingyi_mp_t *r, int rc)
{
    if (rc) {
        list->index = list->count; /* wrong kind of list: stop for good */
        return false;
    }
    list->p = r->p;
    list->index++;
    return true;
}

bool
pingyi_list_next_uint (pingyi_list_t *list, uint64_t *v)
{
    pingyi_mp_t r;
    if (!list_open (list, &r))
        return false;
    return list_step (list, &r, pingyi_mp_uint (&r, v, UINT64_MAX));
}

bool
pingyi_list_next_bin (pingyi_list_t *list, pingyi_bin_t *v)
{
    pingyi_mp_t r;
    if (!list_open (list, &r))
        return false;
    return list_step (list, &r, pingyi_mp_bin (&r, &v->p, &v->len, 0, UINT32_MAX));
}

bool
pingyi_list_next_ack (pingyi_list_t *list, pingyi_ack_t *v)
{
    pingyi_mp_t r;
    fault_t f;
    if (!list_open (list, &r))
        return false;
    return list_step (list, &r, read_ack_item (&r, v, &f));
}

bool
pingyi_list_next_block (pingyi_list_t *list, pingyi_block_t *v)
{
    pingyi_mp_t r;
    fault_t f;
    if (!list_open (list, &r))
        return false;
    return list_step (list, &r, read_block_item (&r, v, &f));
}

bool
pingyi_list_next_figures (pingyi_list_t *list, pingyi_venue_figures_t *v)
{
    pingyi_mp_t r;
    fault_t f;
    if (!list_open (list, &r))
        return false;
    return list_step (list, &r, read_figures (&r, v, &f));
}

bool
pingyi_list_next_stat (pingyi_list_t *list, pingyi_stat_t *v)
{
    pingyi_mp_t r;
    fault_t f;
    if (!list_open (list, &r))
        return false;
    return list_step (list, &r, read_stat_item (&r, v, &f));
}

bool
pingyi_list_next_monitor_worker (pingyi_list_t *list, pingyi_monitor_worker_t *v)
{
    pingyi_mp_t r;
    fault_t f;
    if (!list_open (list, &r))
        return false;
    return list_step (list, &r, read_monitor_worker (&r, v, &f));
}

bool
pingyi_list_next_monitor_shard (pingyi_list_t *list, pingyi_monitor_shard_t *v)
{
    pingyi_mp_t r;
    fault_t f;
    if (!list_open (list, &r))
        return false;
    return list_step (list, &r, read_monitor_shard (&r, v, &f));
}

bool
pingyi_list_next_monitor_venue (pingyi_list_t *list, pingyi_monitor_venue_t *v)
{
    pingyi_mp_t r;
    fault_t f;
    if (!list_open (list, &r))
        return false;
    return list_step (list, &r, read_monitor_venue (&r, v, &f));
}

bool
pingyi_list_next_refusal (pingyi_list_t *list, pingyi_stat_t *v)
{
    pingyi_mp_t r;
    fault_t f;
    if (!list_open (list, &r))
        return false;
    return list_step (list, &r, read_refusal_entry (&r, v, NULL, &f));
}

/* -------------------------------------------------------------------------
   Decoder  */

typedef struct {
    pingyi_mp_t r;
    const char *name; /* message name, for errors */
    char *err;
    const uint8_t *frame; /* the frame's first byte (MAC offsets) */
} dec_t;

static int
bad (dec_t *d, const char *field)
{
    return pingyi_fail (d->err, "%s.%s: %s", d->name, field, d->r.err ? d->r.err : "invalid");
}

static int
get_uint (dec_t *d, const char *field, uint64_t *v, uint64_t max)
{
    return pingyi_mp_uint (&d->r, v, max) ? bad (d, field) : 0;
}

static int
get_u32 (dec_t *d, const char *field, uint32_t *v, uint64_t max)
{
    uint64_t wide;
    if (pingyi_mp_uint (&d->r, &wide, max))
        return bad (d, field);
    *v = (uint32_t) wide;
    return 0;
}

static int
get_bool (dec_t *d, const char *field, bool *v)
{
    return pingyi_mp_bool (&d->r, v) ? bad (d, field) : 0;
}

/*  A name: an id, a worker or source name (UTF-8, no control character).  */
static int
get_name (dec_t *d, const char *field, pingyi_str_t *s, uint32_t min)
{
    return read_checked_str (&d->r, s, min, PINGYI_NAME_MAX, STR_NAME) ? bad (d, field) : 0;
}

/*  A text for an operator (UTF-8, no NUL).  */
static int
get_text (dec_t *d, const char *field, pingyi_str_t *s)
{
    return read_checked_str (&d->r, s, 0, PINGYI_TEXT_MAX, STR_TEXT) ? bad (d, field) : 0;
}

static int
get_bin (dec_t *d, const char *field, pingyi_bin_t *b, uint32_t min, uint32_t max)
{
    return pingyi_mp_bin (&d->r, &b->p, &b->len, min, max) ? bad (d, field) : 0;
}

static int
get_fixed (dec_t *d, const char *field, uint8_t *out, uint32_t len)
{
    const uint8_t *p;
    if (pingyi_mp_bin_fixed (&d->r, &p, len))
        return bad (d, field);
    memcpy (out, p, len);
    return 0;
}

/*  The end-to-end MAC closing ACK, VENUE_STATUS and VENUE_CLOSE: it covers
    every byte before its own bin header, which is where the cursor stands.  */
static int
get_mac (dec_t *d, pingyi_msg_t *m)
{
    m->mac_offset = (size_t) (d->r.p - d->frame);
    return get_fixed (d, "mac", m->mac, PINGYI_LINK_MAC_LEN);
}

/*  A broker's ticket: never 0, so a zeroed message names no request.  */
static int
get_ticket (dec_t *d, uint64_t *ticket)
{
    if (get_uint (d, "ticket", ticket, UINT64_MAX))
        return -1;
    if (*ticket == 0)
        return pingyi_fail (d->err, "%s.ticket: 0 is not a ticket", d->name);
    return 0;
}

typedef enum {
    ITEM_SHARD,
    ITEM_ENVELOPE,
    ITEM_ACK,
    ITEM_FIGURES,
    ITEM_BLOCK,
    ITEM_STAT,
    ITEM_MONITOR_WORKER,
    ITEM_MONITOR_SHARD,
    ITEM_MONITOR_VENUE,
} item_kind_t;

/*  Validate a whole list and record where its items lie.  Shard lists must
    not name a shard twice: the broker's ownership table relies on it.  */
static int
get_list (dec_t *d, const char *field, pingyi_list_t *list, uint32_t max, item_kind_t kind)
{
    uint32_t n;
    if (pingyi_mp_array (&d->r, &n, max))
        return bad (d, field);
    list->p = d->r.p;
    list->count = n;
    list->index = 0;
    uint8_t seen[(PINGYI_MAX_SHARD_INDEX + 1) / 8] = {0};
    for (uint32_t i = 0; i < n; i++) {
        fault_t f;
        int rc = -1;
        union {
            uint64_t u;
            pingyi_bin_t bin;
            pingyi_ack_t ack;
            pingyi_venue_figures_t figures;
            pingyi_block_t block;
            pingyi_stat_t stat;
            pingyi_monitor_worker_t worker;
            pingyi_monitor_shard_t shard;
            pingyi_monitor_venue_t venue;
        } item;
        switch (kind) {
        case ITEM_SHARD:
            rc = read_shard_item (&d->r, &item.u, &f);
            if (!rc && (seen[item.u / 8] & (1u << (item.u % 8)))) {
                return pingyi_fail (d->err, "%s.%s[%" PRIu32 "]: shard %" PRIu64 " listed twice", d->name,
                                    field, i, item.u);
            }
            if (!rc)
                seen[item.u / 8] |= (uint8_t) (1u << (item.u % 8));
            break;
        case ITEM_ENVELOPE:
            rc = read_envelope_item (&d->r, &item.bin, &f);
            break;
        case ITEM_ACK:
            rc = read_ack_item (&d->r, &item.ack, &f);
            break;
        case ITEM_FIGURES:
            rc = read_figures (&d->r, &item.figures, &f);
            break;
        case ITEM_BLOCK:
            rc = read_block_item (&d->r, &item.block, &f);
            break;
        case ITEM_STAT:
            rc = read_stat_item (&d->r, &item.stat, &f);
            break;
        case ITEM_MONITOR_WORKER:
            rc = read_monitor_worker (&d->r, &item.worker, &f);
            break;
        case ITEM_MONITOR_SHARD:
            rc = read_monitor_shard (&d->r, &item.shard, &f);
            break;
        case ITEM_MONITOR_VENUE:
            rc = read_monitor_venue (&d->r, &item.venue, &f);
            break;
        }
        if (rc)
            return pingyi_fail (d->err, "%s.%s[%" PRIu32 "]%s: %s", d->name, field, i, f.where, f.why);
    }
    list->end = d->r.p;
    return 0;
}

static int
decode_body (dec_t *d, pingyi_msg_t *m)
{
    switch (m->type) {
    case PINGYI_MSG_HELLO:
        if (get_fixed (d, "fingerprint", m->u.hello.fingerprint, PINGYI_FP_LEN) ||
            get_name (d, "name", &m->u.hello.name, 1) ||
            get_list (d, "shards", &m->u.hello.shards, PINGYI_SHARDS_LISTED_MAX, ITEM_SHARD))
            return -1;
        return 0;
    case PINGYI_MSG_READY:
        return get_list (d, "shards", &m->u.ready.shards, PINGYI_SHARDS_LISTED_MAX, ITEM_SHARD);
    case PINGYI_MSG_HEARTBEAT:
        return 0;
    case PINGYI_MSG_SUBMIT:
        if (get_uint (d, "tag", &m->u.submit.tag, UINT64_MAX) ||
            get_fixed (d, "fingerprint", m->u.submit.fingerprint, PINGYI_FP_LEN) ||
            get_name (d, "venue", &m->u.submit.venue, 1) ||
            get_list (d, "envelopes", &m->u.submit.envelopes, PINGYI_BATCH_MAX, ITEM_ENVELOPE))
            return -1;
        return 0;
    case PINGYI_MSG_ACK:
        if (get_uint (d, "tag", &m->u.ack.tag, UINT64_MAX) ||
            get_list (d, "results", &m->u.ack.results, PINGYI_BATCH_MAX, ITEM_ACK))
            return -1;
        return get_mac (d, m);
    case PINGYI_MSG_RETRY:
        if (get_uint (d, "tag", &m->u.retry.tag, UINT64_MAX) ||
            get_u32 (d, "retry_ms", &m->u.retry.retry_ms, UINT32_MAX) ||
            get_text (d, "reason", &m->u.retry.reason))
            return -1;
        return 0;
    case PINGYI_MSG_ERROR:
        if (get_uint (d, "tag", &m->u.error.tag, UINT64_MAX) ||
            get_u32 (d, "code", &m->u.error.code, UINT32_MAX) || get_text (d, "text", &m->u.error.text))
            return -1;
        return 0;
    case PINGYI_MSG_VENUE_OPEN:
        if (get_uint (d, "tag", &m->u.venue_open.tag, UINT64_MAX) ||
            get_fixed (d, "fingerprint", m->u.venue_open.fingerprint, PINGYI_FP_LEN) ||
            get_name (d, "venue", &m->u.venue_open.venue, 1))
            return -1;
        return 0;
    case PINGYI_MSG_VENUE_CLOSE:
        /* Counts fit int64 because venue figures carry them signed.  */
        if (get_uint (d, "tag", &m->u.venue_close.tag, UINT64_MAX) ||
            get_fixed (d, "fingerprint", m->u.venue_close.fingerprint, PINGYI_FP_LEN) ||
            get_name (d, "venue", &m->u.venue_close.venue, 1) ||
            get_uint (d, "issued", &m->u.venue_close.issued, INT64_MAX) ||
            get_uint (d, "collected", &m->u.venue_close.collected, INT64_MAX) ||
            get_uint (d, "sent", &m->u.venue_close.sent, INT64_MAX))
            return -1;
        return get_mac (d, m);
    case PINGYI_MSG_VENUE_STATUS: {
        fault_t f;
        if (get_uint (d, "tag", &m->u.venue_status.tag, UINT64_MAX))
            return -1;
        if (read_figures (&d->r, &m->u.venue_status.figures, &f))
            return pingyi_fail (d->err, "%s.figures%s: %s", d->name, f.where, f.why);
        return get_mac (d, m);
    }
    case PINGYI_MSG_VENUE_REOPEN:
        if (get_uint (d, "tag", &m->u.venue_reopen.tag, UINT64_MAX) ||
            get_fixed (d, "fingerprint", m->u.venue_reopen.fingerprint, PINGYI_FP_LEN) ||
            get_name (d, "venue", &m->u.venue_reopen.venue, 1) ||
            get_u32 (d, "number", &m->u.venue_reopen.number, UINT32_MAX))
            return -1;
        if (m->u.venue_reopen.number == 0)
            return pingyi_fail (d->err, "%s.number: 0 is not a reopen number", d->name);
        if (read_checked_str (&d->r, &m->u.venue_reopen.reason, 1, PINGYI_TEXT_MAX, STR_TEXT))
            return bad (d, "reason");
        return get_mac (d, m);
    case PINGYI_MSG_TALLY_QUERY:
        if (get_uint (d, "tag", &m->u.tally_query.tag, UINT64_MAX) ||
            get_u32 (d, "shard", &m->u.tally_query.shard, PINGYI_MAX_SHARD_INDEX) ||
            get_fixed (d, "from", m->u.tally_query.from, PINGYI_BLOCK_KEY_BYTES))
            return -1;
        return 0;
    case PINGYI_MSG_SNAPSHOT:
        if (get_uint (d, "tag", &m->u.snapshot.tag, UINT64_MAX) ||
            get_u32 (d, "shard", &m->u.snapshot.shard, PINGYI_MAX_SHARD_INDEX) ||
            get_u32 (d, "shard_count", &m->u.snapshot.shard_count, PINGYI_MAX_SHARD_INDEX + 1))
            return -1;
        if (m->u.snapshot.shard_count < 1)
            return pingyi_fail (d->err, "%s.shard_count: must be at least 1", d->name);
        if (m->u.snapshot.shard >= m->u.snapshot.shard_count)
            return pingyi_fail (d->err, "%s.shard: %" PRIu32 " is not below shard_count %" PRIu32, d->name,
                                m->u.snapshot.shard, m->u.snapshot.shard_count);
        if (get_fixed (d, "fingerprint", m->u.snapshot.fingerprint, PINGYI_FP_LEN) ||
            get_uint (d, "sequence", &m->u.snapshot.sequence, UINT64_MAX) ||
            get_fixed (d, "digest", m->u.snapshot.digest, 32) ||
            get_uint (d, "generation", &m->u.snapshot.generation, UINT64_MAX) ||
            get_list (d, "venues", &m->u.snapshot.venues, PINGYI_SNAPSHOT_VENUES_MAX, ITEM_FIGURES) ||
            get_list (d, "blocks", &m->u.snapshot.blocks, PINGYI_SNAPSHOT_BLOCKS_MAX, ITEM_BLOCK) ||
            get_bool (d, "more", &m->u.snapshot.more) ||
            get_fixed (d, "next", m->u.snapshot.next, PINGYI_BLOCK_KEY_BYTES))
            return -1;
        return 0;
    case PINGYI_MSG_STATS_QUERY: {
        int64_t shard;
        if (get_uint (d, "tag", &m->u.stats_query.tag, UINT64_MAX))
            return -1;
        if (pingyi_mp_int (&d->r, &shard, -1, PINGYI_MAX_SHARD_INDEX))
            return bad (d, "shard");
        m->u.stats_query.shard = (int32_t) shard;
        return 0;
    }
    case PINGYI_MSG_STATS:
        if (get_uint (d, "tag", &m->u.stats.tag, UINT64_MAX) ||
            get_name (d, "source", &m->u.stats.source, 1) ||
            get_list (d, "stats", &m->u.stats.stats, PINGYI_STATS_MAX, ITEM_STAT))
            return -1;
        return 0;
    case PINGYI_MSG_FORWARD: {
        uint64_t role;
        if (get_ticket (d, &m->u.forward.ticket) || get_uint (d, "role", &role, PINGYI_ROLE_BROKER))
            return -1;
        if (role < PINGYI_ROLE_VENUE)
            return pingyi_fail (d->err, "%s.role: 0 is not a role", d->name);
        m->u.forward.role = (uint8_t) role;
        if (get_name (d, "sender", &m->u.forward.sender, 0) ||
            get_bin (d, "inner", &m->u.forward.inner, 1, PINGYI_INNER_MAX))
            return -1;
        return 0;
    }
    case PINGYI_MSG_REPLY:
        if (get_ticket (d, &m->u.reply.ticket) ||
            get_bin (d, "inner", &m->u.reply.inner, 1, PINGYI_INNER_MAX))
            return -1;
        return 0;
    case PINGYI_MSG_MONITOR_QUERY:
        if (get_uint (d, "tag", &m->u.monitor_query.tag, UINT64_MAX) ||
            get_u32 (d, "from", &m->u.monitor_query.from, UINT32_MAX))
            return -1;
        return 0;
    case PINGYI_MSG_MONITOR: {
        uint32_t n;
        pingyi_str_t last = {0};
        if (get_uint (d, "tag", &m->u.monitor.tag, UINT64_MAX) ||
            get_uint (d, "uptime_ms", &m->u.monitor.uptime_ms, UINT64_MAX) ||
            get_name (d, "version", &m->u.monitor.version, 1) ||
            get_list (d, "workers", &m->u.monitor.workers, PINGYI_MONITOR_WORKERS_MAX, ITEM_MONITOR_WORKER) ||
            get_list (d, "shards", &m->u.monitor.shards, PINGYI_MONITOR_SHARDS_MAX, ITEM_MONITOR_SHARD))
            return -1;
        if (pingyi_mp_map (&d->r, &n, PINGYI_MONITOR_REFUSALS_MAX))
            return bad (d, "refusals");
        m->u.monitor.refusals.p = d->r.p;
        m->u.monitor.refusals.count = n;
        for (uint32_t i = 0; i < n; i++) {
            fault_t f;
            pingyi_stat_t s;
            if (read_refusal_entry (&d->r, &s, &last, &f))
                return pingyi_fail (d->err, "%s.refusals%s: %s", d->name, f.where, f.why);
        }
        m->u.monitor.refusals.end = d->r.p;
        if (get_list (d, "venues", &m->u.monitor.venues, PINGYI_MONITOR_PAGE, ITEM_MONITOR_VENUE) ||
            get_bool (d, "more", &m->u.monitor.more) ||
            get_u32 (d, "next", &m->u.monitor.next, UINT32_MAX))
            return -1;
        if (!m->u.monitor.more && m->u.monitor.next != 0)
            return pingyi_fail (d->err, "%s.next: %" PRIu32 " although more is false (must be 0)", d->name,
                                m->u.monitor.next);
        return 0;
    }
    }
    return pingyi_fail (d->err, "unknown message type %d", m->type);
}

uint64_t
pingyi_msg_tag (const uint8_t *frame, size_t len)
{
    /* the types whose third element is a tag (FORWARD and REPLY carry a
       ticket, HELLO and READY none) */
    static const bool tagged[PINGYI_MSG_TYPE_MAX_ + 1] = {
        [PINGYI_MSG_SUBMIT] = true,       [PINGYI_MSG_ACK] = true,         [PINGYI_MSG_RETRY] = true,
        [PINGYI_MSG_ERROR] = true,        [PINGYI_MSG_VENUE_OPEN] = true,  [PINGYI_MSG_VENUE_CLOSE] = true,
        [PINGYI_MSG_VENUE_STATUS] = true, [PINGYI_MSG_TALLY_QUERY] = true, [PINGYI_MSG_SNAPSHOT] = true,
        [PINGYI_MSG_STATS_QUERY] = true,  [PINGYI_MSG_STATS] = true,       [PINGYI_MSG_VENUE_REOPEN] = true,
        [PINGYI_MSG_MONITOR_QUERY] = true, [PINGYI_MSG_MONITOR] = true,
    };
    pingyi_mp_t r;
    uint64_t n, version, type, tag;
    size_t head;
    if (!frame || len < 1)
        return 0;
    /* The array header by hand: a frame cut short after its tag still
       names its request (pingyi_mp_array would refuse a count larger than
       the bytes left).  */
    if (frame[0] >= 0x90 && frame[0] <= 0x9f) {
        n = frame[0] & 0x0f;
        head = 1;
    }
    else if (frame[0] == 0xdc && len >= 3) {
        n = pingyi_get_be16 (frame + 1);
        head = 3;
    }
    else if (frame[0] == 0xdd && len >= 5) {
        n = pingyi_get_be32 (frame + 1);
        head = 5;
    }
    else
        return 0;
    pingyi_mp_init (&r, frame + head, len - head);
    if (n < 3 || pingyi_mp_uint (&r, &version, UINT64_MAX) || version != PINGYI_PROTO_VERSION ||
        pingyi_mp_uint (&r, &type, PINGYI_MSG_TYPE_MAX_) || !tagged[type] ||
        pingyi_mp_uint (&r, &tag, UINT64_MAX))
        return 0;
    return tag;
}

int
pingyi_msg_decode (const uint8_t *frame, size_t len, pingyi_msg_t *msg, char *err)
{
    dec_t d = {.name = "message", .err = err, .frame = frame};
    uint32_t n;
    uint64_t version, type;

    memset (msg, 0, sizeof *msg);
    pingyi_mp_init (&d.r, frame, len);
    /* The array length is checked against the bytes left, not against the
       arity yet: the version and type decide which arity applies.  */
    if (pingyi_mp_array (&d.r, &n, UINT32_MAX))
        return pingyi_fail (err, "message: %s", d.r.err);
    if (n == 0)
        return pingyi_fail (err, "message: empty array, expected [version, type, ...]");
    if (pingyi_mp_uint (&d.r, &version, UINT64_MAX))
        return bad (&d, "version");
    if (version != PINGYI_PROTO_VERSION)
        return pingyi_fail (err, "unsupported protocol version %" PRIu64, version);
    if (n < 2)
        return pingyi_fail (err, "message: expected at least 2 fields, got %" PRIu32, n);
    if (pingyi_mp_uint (&d.r, &type, UINT64_MAX))
        return bad (&d, "type");
    if (type < 1 || type > PINGYI_MSG_TYPE_MAX_)
        return pingyi_fail (err, "unknown message type %" PRIu64, type);
    msg->type = (int) type;
    d.name = type_names[type];
    if (n != arity[type])
        return pingyi_fail (err, "%s: expected %" PRIu32 " fields, got %" PRIu32, d.name, arity[type], n);
    if (decode_body (&d, msg)) {
        int type_kept = msg->type;
        memset (msg, 0, sizeof *msg);
        msg->type = type_kept;
        return -1;
    }
    if (pingyi_mp_end (&d.r)) {
        memset (msg, 0, sizeof *msg);
        return pingyi_fail (err, "%s: trailing bytes after message", d.name);
    }
    return 0;
}

/* -------------------------------------------------------------------------
   Encoders.  msgpack-c picks the smallest encoding of every integer, which is
   what the byte-exact tests expect; the decoder accepts any encoding.  */

void
pingyi_writer_init (pingyi_writer_t *w)
{
    msgpack_sbuffer_init (&w->sbuf);
    /* The packer points at w->sbuf: a writer must not be copied.  */
    msgpack_packer_init (&w->pk, &w->sbuf, msgpack_sbuffer_write);
}

void
pingyi_writer_reset (pingyi_writer_t *w)
{
    msgpack_sbuffer_clear (&w->sbuf);
}

void
pingyi_writer_fini (pingyi_writer_t *w)
{
    msgpack_sbuffer_destroy (&w->sbuf);
    w->sbuf.data = NULL;
    w->sbuf.size = w->sbuf.alloc = 0;
}

static void
head (pingyi_writer_t *w, pingyi_msg_type_t type)
{
    msgpack_sbuffer_clear (&w->sbuf);
    msgpack_pack_array (&w->pk, arity[type]);
    msgpack_pack_uint8 (&w->pk, PINGYI_PROTO_VERSION);
    msgpack_pack_uint8 (&w->pk, (uint8_t) type);
}

static void
pack_strn (msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str (pk, s ? len : 0);
    if (s && len)
        msgpack_pack_str_body (pk, s, len);
}

static void
pack_str (msgpack_packer *pk, const char *s)
{
    pack_strn (pk, s, s ? strlen (s) : 0);
}

/*  Length of the valid UTF-8 sequence at s (1..4), or 0 when the byte at s
    does not start one that fits in the len bytes left.  */
static size_t
utf8_seq (const uint8_t *s, size_t len)
{
    const char *why = str_problem ((const char *) s, 1, STR_TEXT);
    if (!why)
        return 1;
    for (size_t n = 2; n <= 4 && n <= len; n++)
        if (!str_problem ((const char *) s, (uint32_t) n, STR_TEXT))
            return n;
    return 0;
}

/*  Texts for people (ack reasons, ERROR and RETRY texts) may quote hostile
    bytes, say a venue id from an envelope header.  The decoder refuses a str
    that is not UTF-8, which would cost the receiver the whole frame (every
    ack in it), so texts are made valid here: a byte that does not start a
    valid sequence becomes '?', and the text is cut at PINGYI_TEXT_MAX bytes
    on a character boundary.  Ids and names are not touched: changing one
    would change whom it names.  */
static void
pack_text (msgpack_packer *pk, const char *text)
{
    char clean[PINGYI_TEXT_MAX];
    size_t used = 0;
    const uint8_t *s = (const uint8_t *) (text ? text : "");
    size_t len = strlen ((const char *) s);
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq (s + i, len - i);
        size_t out = n ? n : 1;
        if (used + out > sizeof clean)
            break;
        if (n)
            memcpy (clean + used, s + i, n);
        else
            clean[used] = '?';
        used += out;
        i += out;
    }
    pack_strn (pk, clean, used);
}

/*  A NULL b packs zeros (e.g. "next" when there is no next page).  */
static void
pack_bin (msgpack_packer *pk, const uint8_t *b, size_t len)
{
    static const uint8_t zeros[64];
    msgpack_pack_bin (pk, len);
    if (b && len)
        msgpack_pack_bin_body (pk, b, len);
    else
        for (size_t done = 0; done < len; done += sizeof zeros)
            msgpack_pack_bin_body (pk, zeros, len - done < sizeof zeros ? len - done : sizeof zeros);
}

void
pingyi_msg_hello_begin (pingyi_writer_t *w, const uint8_t fp[PINGYI_FP_LEN], const char *name,
                        uint32_t shard_count_listed)
{
    head (w, PINGYI_MSG_HELLO);
    pack_bin (&w->pk, fp, PINGYI_FP_LEN);
    pack_str (&w->pk, name);
    msgpack_pack_array (&w->pk, shard_count_listed);
}

void
pingyi_msg_ready_begin (pingyi_writer_t *w, uint32_t shard_count_listed)
{
    head (w, PINGYI_MSG_READY);
    msgpack_pack_array (&w->pk, shard_count_listed);
}

void
pingyi_msg_heartbeat (pingyi_writer_t *w)
{
    head (w, PINGYI_MSG_HEARTBEAT);
}

void
pingyi_msg_submit_begin (pingyi_writer_t *w, uint64_t tag, const uint8_t fp[PINGYI_FP_LEN], const char *venue,
                         uint32_t envelope_count)
{
    head (w, PINGYI_MSG_SUBMIT);
    msgpack_pack_uint64 (&w->pk, tag);
    pack_bin (&w->pk, fp, PINGYI_FP_LEN);
    pack_str (&w->pk, venue);
    msgpack_pack_array (&w->pk, envelope_count);
}

void
pingyi_msg_envelope (pingyi_writer_t *w, const uint8_t *env, size_t len)
{
    pack_bin (&w->pk, env, len);
}

void
pingyi_msg_ack_begin (pingyi_writer_t *w, uint64_t tag, uint32_t result_count)
{
    head (w, PINGYI_MSG_ACK);
    msgpack_pack_uint64 (&w->pk, tag);
    msgpack_pack_array (&w->pk, result_count);
}

/*  Close a frame with the MAC of everything written so far.  */
static void
pack_mac (pingyi_writer_t *w, const uint8_t key[32])
{
    uint8_t mac[PINGYI_LINK_MAC_LEN];
    pingyi_msg_mac (mac, (const uint8_t *) w->sbuf.data, w->sbuf.size, key);
    pack_bin (&w->pk, mac, sizeof mac);
}

void
pingyi_msg_mac (uint8_t out[PINGYI_LINK_MAC_LEN], const uint8_t *data, size_t len, const uint8_t key[32])
{
    crypto_generichash (out, PINGYI_LINK_MAC_LEN, data, len, key, 32);
}

int
pingyi_msg_mac_check (const uint8_t *frame, const pingyi_msg_t *msg, const uint8_t key[32])
{
    if (msg->type != PINGYI_MSG_ACK && msg->type != PINGYI_MSG_VENUE_STATUS &&
        msg->type != PINGYI_MSG_VENUE_CLOSE && msg->type != PINGYI_MSG_VENUE_REOPEN)
        return -1;
    uint8_t mac[PINGYI_LINK_MAC_LEN];
    pingyi_msg_mac (mac, frame, msg->mac_offset, key);
    return crypto_verify_16 (mac, msg->mac) == 0 ? 0 : -1;
}

void
pingyi_msg_ack_end (pingyi_writer_t *w, const uint8_t ack_key[32])
{
    pack_mac (w, ack_key);
}

void
pingyi_msg_ack_result (pingyi_writer_t *w, const uint8_t id[PINGYI_BALLOT_ID_LEN], pingyi_ack_status_t status,
                       uint8_t reason, const char *text, const char *receipt)
{
    msgpack_pack_array (&w->pk, 5);
    pack_bin (&w->pk, id, PINGYI_BALLOT_ID_LEN);
    msgpack_pack_uint8 (&w->pk, (uint8_t) status);
    msgpack_pack_uint8 (&w->pk, reason);
    pack_text (&w->pk, text);
    pack_str (&w->pk, receipt);
}

void
pingyi_msg_retry (pingyi_writer_t *w, uint64_t tag, uint32_t retry_ms, const char *reason)
{
    head (w, PINGYI_MSG_RETRY);
    msgpack_pack_uint64 (&w->pk, tag);
    msgpack_pack_uint32 (&w->pk, retry_ms);
    pack_text (&w->pk, reason);
}

void
pingyi_msg_error (pingyi_writer_t *w, uint64_t tag, pingyi_error_code_t code, const char *text)
{
    head (w, PINGYI_MSG_ERROR);
    msgpack_pack_uint64 (&w->pk, tag);
    msgpack_pack_uint32 (&w->pk, (uint32_t) code);
    pack_text (&w->pk, text);
}

void
pingyi_msg_venue_open (pingyi_writer_t *w, uint64_t tag, const uint8_t fp[PINGYI_FP_LEN], const char *venue)
{
    head (w, PINGYI_MSG_VENUE_OPEN);
    msgpack_pack_uint64 (&w->pk, tag);
    pack_bin (&w->pk, fp, PINGYI_FP_LEN);
    pack_str (&w->pk, venue);
}

void
pingyi_msg_venue_close (pingyi_writer_t *w, uint64_t tag, const uint8_t fp[PINGYI_FP_LEN], const char *venue,
                        uint64_t issued, uint64_t collected, uint64_t sent, const uint8_t close_key[32])
{
    head (w, PINGYI_MSG_VENUE_CLOSE);
    msgpack_pack_uint64 (&w->pk, tag);
    pack_bin (&w->pk, fp, PINGYI_FP_LEN);
    pack_str (&w->pk, venue);
    msgpack_pack_uint64 (&w->pk, issued);
    msgpack_pack_uint64 (&w->pk, collected);
    msgpack_pack_uint64 (&w->pk, sent);
    pack_mac (w, close_key);
}

void
pingyi_msg_figures (pingyi_writer_t *w, const pingyi_venue_figures_t *f)
{
    msgpack_pack_array (&w->pk, 12);
    msgpack_pack_uint32 (&w->pk, f->venue);
    msgpack_pack_uint64 (&w->pk, f->accepted);
    msgpack_pack_uint64 (&w->pk, f->blank);
    msgpack_pack_uint64 (&w->pk, f->duplicates);
    msgpack_pack_uint64 (&w->pk, f->rejected);
    /* slot 0 ("other") only ever holds what a decoder could not place:
       it has no code of its own to be written under */
    uint32_t codes = 0;
    for (int i = 1; i < PINGYI_REJECT_SLOTS; i++)
        codes += f->rejected_by[i] != 0;
    msgpack_pack_map (&w->pk, codes);
    for (int i = 1; i < PINGYI_REJECT_SLOTS; i++)
        if (f->rejected_by[i]) {
            msgpack_pack_uint8 (&w->pk, (uint8_t) i);
            msgpack_pack_uint64 (&w->pk, f->rejected_by[i]);
        }
    msgpack_pack_int64 (&w->pk, f->issued);
    msgpack_pack_int64 (&w->pk, f->collected);
    msgpack_pack_int64 (&w->pk, f->sent);
    if (f->closed)
        msgpack_pack_true (&w->pk);
    else
        msgpack_pack_false (&w->pk);
    uint32_t categories = f->category_count < PINGYI_FIGURES_CATEGORIES ? f->category_count
                                                                         : PINGYI_FIGURES_CATEGORIES;
    msgpack_pack_array (&w->pk, categories);
    for (uint32_t i = 0; i < categories; i++)
        msgpack_pack_uint64 (&w->pk, f->by_category[i]);
    msgpack_pack_uint32 (&w->pk, f->reopens);
}

void
pingyi_msg_venue_status (pingyi_writer_t *w, uint64_t tag, const pingyi_venue_figures_t *f,
                         const uint8_t ack_key[32])
{
    head (w, PINGYI_MSG_VENUE_STATUS);
    msgpack_pack_uint64 (&w->pk, tag);
    pingyi_msg_figures (w, f);
    if (ack_key)
        pack_mac (w, ack_key);
    else {
        static const uint8_t zero[PINGYI_LINK_MAC_LEN];
        pack_bin (&w->pk, zero, sizeof zero);
    }
}

void
pingyi_msg_venue_reopen (pingyi_writer_t *w, uint64_t tag, const uint8_t fp[PINGYI_FP_LEN], const char *venue,
                         uint32_t number, const char *reason, const uint8_t reopen_key[32])
{
    head (w, PINGYI_MSG_VENUE_REOPEN);
    msgpack_pack_uint64 (&w->pk, tag);
    pack_bin (&w->pk, fp, PINGYI_FP_LEN);
    pack_str (&w->pk, venue);
    msgpack_pack_uint32 (&w->pk, number);
    pack_str (&w->pk, reason);
    pack_mac (w, reopen_key);
}

void
pingyi_msg_tally_query (pingyi_writer_t *w, uint64_t tag, uint32_t shard, const uint8_t from[PINGYI_BLOCK_KEY_BYTES])
{
    head (w, PINGYI_MSG_TALLY_QUERY);
    msgpack_pack_uint64 (&w->pk, tag);
    msgpack_pack_uint32 (&w->pk, shard);
    pack_bin (&w->pk, from, PINGYI_BLOCK_KEY_BYTES);
}

void
pingyi_msg_snapshot_begin (pingyi_writer_t *w, uint64_t tag, uint32_t shard, uint32_t shard_count,
                           const uint8_t fp[PINGYI_FP_LEN], uint64_t sequence, const uint8_t digest[32],
                           uint64_t generation, uint32_t venue_count)
{
    head (w, PINGYI_MSG_SNAPSHOT);
    msgpack_pack_uint64 (&w->pk, tag);
    msgpack_pack_uint32 (&w->pk, shard);
    msgpack_pack_uint32 (&w->pk, shard_count);
    pack_bin (&w->pk, fp, PINGYI_FP_LEN);
    msgpack_pack_uint64 (&w->pk, sequence);
    pack_bin (&w->pk, digest, 32);
    msgpack_pack_uint64 (&w->pk, generation);
    msgpack_pack_array (&w->pk, venue_count);
}

void
pingyi_msg_snapshot_blocks_begin (pingyi_writer_t *w, uint32_t row_count)
{
    msgpack_pack_array (&w->pk, row_count);
}

void
pingyi_msg_block (pingyi_writer_t *w, uint32_t venue, uint32_t subject, const uint8_t *cells, size_t len)
{
    msgpack_pack_array (&w->pk, 3);
    msgpack_pack_uint32 (&w->pk, venue);
    msgpack_pack_uint32 (&w->pk, subject);
    pack_bin (&w->pk, cells, len);
}

void
pingyi_msg_snapshot_end (pingyi_writer_t *w, bool more, const uint8_t next[PINGYI_BLOCK_KEY_BYTES])
{
    if (more)
        msgpack_pack_true (&w->pk);
    else
        msgpack_pack_false (&w->pk);
    pack_bin (&w->pk, next, PINGYI_BLOCK_KEY_BYTES);
}

void
pingyi_msg_stats_query (pingyi_writer_t *w, uint64_t tag, int32_t shard)
{
    head (w, PINGYI_MSG_STATS_QUERY);
    msgpack_pack_uint64 (&w->pk, tag);
    msgpack_pack_int32 (&w->pk, shard);
}

void
pingyi_msg_stats_begin (pingyi_writer_t *w, uint64_t tag, const char *source, uint32_t stat_count)
{
    head (w, PINGYI_MSG_STATS);
    msgpack_pack_uint64 (&w->pk, tag);
    pack_str (&w->pk, source);
    msgpack_pack_array (&w->pk, stat_count);
}

void
pingyi_msg_stat (pingyi_writer_t *w, const char *name, uint64_t value)
{
    msgpack_pack_array (&w->pk, 2);
    pack_str (&w->pk, name);
    msgpack_pack_uint64 (&w->pk, value);
}

void
pingyi_msg_forward (pingyi_writer_t *w, uint64_t ticket, pingyi_role_t role, const char *sender,
                    size_t sender_len, const uint8_t *inner, size_t inner_len)
{
    head (w, PINGYI_MSG_FORWARD);
    msgpack_pack_uint64 (&w->pk, ticket);
    msgpack_pack_uint8 (&w->pk, (uint8_t) role);
    pack_strn (&w->pk, sender, sender_len);
    pack_bin (&w->pk, inner, inner_len);
}

void
pingyi_msg_reply (pingyi_writer_t *w, uint64_t ticket, const uint8_t *inner, size_t inner_len)
{
    head (w, PINGYI_MSG_REPLY);
    msgpack_pack_uint64 (&w->pk, ticket);
    pack_bin (&w->pk, inner, inner_len);
}

/*  MONITOR_QUERY and MONITOR (docs/PROTOCOL.md §3, 18 and 19).  */
_Static_assert (PINGYI_MONITOR_FRAME_WORST <= PINGYI_REPLY_FRAME_MAX,
                "the largest MONITOR must fit the REPLY limit: lower PINGYI_MONITOR_PAGE");

void
pingyi_msg_monitor_query (pingyi_writer_t *w, uint64_t tag, uint32_t from)
{
    head (w, PINGYI_MSG_MONITOR_QUERY);
    msgpack_pack_uint64 (&w->pk, tag);
    msgpack_pack_uint32 (&w->pk, from);
}

static void
pack_nil_or_uint (msgpack_packer *pk, int64_t v)
{
    if (v < 0)
        msgpack_pack_nil (pk);
    else
        msgpack_pack_uint64 (pk, (uint64_t) v);
}

void
pingyi_msg_monitor_begin (pingyi_writer_t *w, uint64_t tag, uint64_t uptime_ms, const char *version,
                          uint32_t worker_count)
{
    head (w, PINGYI_MSG_MONITOR);
    msgpack_pack_uint64 (&w->pk, tag);
    msgpack_pack_uint64 (&w->pk, uptime_ms);
    pack_str (&w->pk, version);
    msgpack_pack_array (&w->pk, worker_count);
}

void
pingyi_msg_monitor_worker (pingyi_writer_t *w, const char *name, const uint32_t *shards, uint32_t shard_count,
                           bool live, uint64_t in_flight, uint64_t envelopes_forwarded, int64_t heartbeat_ms)
{
    msgpack_pack_array (&w->pk, 6);
    pack_str (&w->pk, name);
    msgpack_pack_array (&w->pk, shard_count);
    for (uint32_t i = 0; i < shard_count; i++)
        msgpack_pack_uint32 (&w->pk, shards[i]);
    if (live)
        msgpack_pack_true (&w->pk);
    else
        msgpack_pack_false (&w->pk);
    msgpack_pack_uint64 (&w->pk, in_flight);
    msgpack_pack_uint64 (&w->pk, envelopes_forwarded);
    pack_nil_or_uint (&w->pk, heartbeat_ms);
}

void
pingyi_msg_monitor_shards_begin (pingyi_writer_t *w, uint32_t shard_count)
{
    msgpack_pack_array (&w->pk, shard_count);
}

void
pingyi_msg_monitor_shard (pingyi_writer_t *w, uint32_t number, const char *owner, int64_t unowned_ms)
{
    msgpack_pack_array (&w->pk, 3);
    msgpack_pack_uint32 (&w->pk, number);
    if (owner)
        pack_str (&w->pk, owner);
    else
        msgpack_pack_nil (&w->pk);
    pack_nil_or_uint (&w->pk, owner ? -1 : (unowned_ms < 0 ? 0 : unowned_ms));
}

void
pingyi_msg_monitor_refusals_begin (pingyi_writer_t *w, uint32_t count)
{
    msgpack_pack_map (&w->pk, count);
}

void
pingyi_msg_monitor_refusal (pingyi_writer_t *w, const char *name, uint64_t value)
{
    pack_str (&w->pk, name);
    msgpack_pack_uint64 (&w->pk, value);
}

void
pingyi_msg_monitor_venues_begin (pingyi_writer_t *w, uint32_t count)
{
    msgpack_pack_array (&w->pk, count);
}

void
pingyi_msg_monitor_venue (pingyi_writer_t *w, const pingyi_monitor_venue_t *v)
{
    msgpack_pack_array (&w->pk, 11);
    pack_strn (&w->pk, v->id.p, v->id.len);
    if (v->connected)
        msgpack_pack_true (&w->pk);
    else
        msgpack_pack_false (&w->pk);
    msgpack_pack_uint8 (&w->pk, v->status);
    if (v->is_void)
        msgpack_pack_true (&w->pk);
    else
        msgpack_pack_false (&w->pk);
    msgpack_pack_uint32 (&w->pk, v->reopens);
    msgpack_pack_uint64 (&w->pk, v->envelopes_in);
    msgpack_pack_uint64 (&w->pk, v->accepted);
    msgpack_pack_uint64 (&w->pk, v->duplicate);
    msgpack_pack_uint64 (&w->pk, v->rejected);
    msgpack_pack_uint64 (&w->pk, v->retries);
    pack_nil_or_uint (&w->pk, v->seen ? (int64_t) (v->last_seen_ms > INT64_MAX ? INT64_MAX : v->last_seen_ms) : -1);
}

void
pingyi_msg_monitor_end (pingyi_writer_t *w, bool more, uint32_t next)
{
    if (more)
        msgpack_pack_true (&w->pk);
    else
        msgpack_pack_false (&w->pk);
    msgpack_pack_uint32 (&w->pk, more ? next : 0);
}
