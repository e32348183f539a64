/*  ballot.c — a ballot's body on the wire, the rules it must satisfy, and
    the counter increments it makes.

    The body arrives sealed in an envelope from a venue, so once opened it is
    still untrusted: decode reads it through the strict proto/mp.h cursor
    (bounded, exact types, no trailing bytes) and then validates it against
    the venue's form.  Every refusal is one reason code and one line naming
    where ("body: subjects[2].marks: expected 6 marks, got 5").

    Rules, in the order they are checked (the first failing one is reported):
    1. structure (MALFORMED): [1, category, [[subject, [mask × items]] …]],
       at most PINGYI_MAX_FORM_SUBJECTS subjects, exactly item_count masks,
       every integer within uint32, nothing after the body;
    2. the category index exists (BAD_CATEGORY);
    3. the subjects are exactly the venue's form, each once, in form order
       (NOT_ON_FORM).  Form order is required, not merely accepted, so one
       ballot has one encoding and a ballot's cells line up with the form's
       positions without a search;
    4. no mask ticks a choice outside its item's choice set (BAD_MARK).
    Ticking more choices than an item allows is NOT a refusal: that cell
    counts as OVER (多选无效) and the rest of the ballot counts.  */
#include "ballot.h"
#include "mp.h"

#include <assert.h>
#include <inttypes.h>
#include <string.h>

void
pingyi_ballot_init (pingyi_ballot_t *self, const pingyi_election_t *election, size_t venue)
{
    assert (venue < election->venue_count);
    const pingyi_venue_t *v = &election->venues[venue];
    memset (self, 0, sizeof *self);
    self->subject_count = (uint32_t) v->subject_count;
    for (size_t i = 0; i < v->subject_count; i++)
        self->subjects[i] = (uint32_t) v->subjects[i];
}

/*  ---------------------------------------------------------------------
    Encoding: msgpack-c's packer writing straight into the caller's buffer
    (no allocation).

    Fixed widths, so that a body's length says nothing about the ballot:
    every integer is written at the width of the largest value the
    definition allows in its place, not at the width of its own value.  A
    mask takes the width of its item's full mask (all choices ticked: a
    positive fixint up to 7 choices, uint8 up to 8, uint16 up to 16,
    uint32 beyond), the category that of the last category; the version
    and the subjects are fixed by the form anyway.  So every valid ballot
    of a venue has the same length -- the longest one the form allows,
    which the definition check bounds by PINGYI_BODY_MAX -- whatever its
    marks (a choice at index 7 or more, BLANK, OVER) or its category.  One
    ballot still has exactly one body.  A value past its bound (a ballot
    the decoder refuses: unknown category, tick outside the choice set) is
    written as wide as it needs.  */

typedef struct {
    uint8_t *out;
    size_t cap;
    size_t len;
    bool overflow;
} sink_t;

static int
sink_write (void *data, const char *buf, size_t len)
{
    sink_t *s = data;
    if (s->overflow || len > s->cap - s->len) {
        s->overflow = true;
        return -1;
    }
    memcpy (s->out + s->len, buf, len);
    s->len += len;
    return 0;
}

/*  v at the width of max (or of v, when v is larger).  */
static void
pack_fixed (msgpack_packer *pk, uint32_t v, uint32_t max)
{
    if (v > max)
        max = v;
    if (max < 0x80)
        msgpack_pack_uint32 (pk, v); /* a positive fixint: one byte for every value up to max */
    else if (max <= 0xff)
        msgpack_pack_fix_uint8 (pk, (uint8_t) v);
    else if (max <= 0xffff)
        msgpack_pack_fix_uint16 (pk, (uint16_t) v);
    else
        msgpack_pack_fix_uint32 (pk, v);
}

/*  The largest mask of item j: every choice of its set ticked.  */
static uint32_t
full_mask (const pingyi_election_t *election, size_t j)
{
    size_t set = election->items[j].choice_set;
    size_t choices =
        set < election->choice_set_count ? election->choice_sets[set].choice_count : PINGYI_MAX_CHOICES;
    return choices >= 32 ? UINT32_MAX : (UINT32_C (1) << choices) - 1;
}

size_t
pingyi_ballot_encode (const pingyi_ballot_t *self, const pingyi_election_t *election, uint8_t *out,
                      size_t cap)
{
    if (self->subject_count > PINGYI_MAX_FORM_SUBJECTS || election->item_count > PINGYI_MAX_ITEMS)
        return 0;
    uint32_t widest[PINGYI_MAX_ITEMS];
    for (size_t j = 0; j < election->item_count; j++)
        widest[j] = full_mask (election, j);
    uint32_t last_category = election->category_count ? (uint32_t) election->category_count - 1 : 0;
    sink_t sink = {.out = out, .cap = cap > PINGYI_BODY_MAX ? PINGYI_BODY_MAX : cap};
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sink, sink_write);
    msgpack_pack_array (&pk, 3);
    msgpack_pack_uint32 (&pk, PINGYI_BALLOT_VERSION);
    pack_fixed (&pk, self->category, last_category);
    msgpack_pack_array (&pk, self->subject_count);
    for (uint32_t i = 0; i < self->subject_count; i++) {
        msgpack_pack_array (&pk, 2);
        msgpack_pack_uint32 (&pk, self->subjects[i]); /* the form's: the same on every ballot */
        msgpack_pack_array (&pk, election->item_count);
        for (size_t j = 0; j < election->item_count; j++)
            pack_fixed (&pk, self->ticks[i][j], widest[j]);
    }
    return sink.overflow ? 0 : sink.len;
}

/*  ---------------------------------------------------------------------
    Decoding and validation  */

static pingyi_reject_t reject (char *err, pingyi_reject_t code, const char *fmt, ...) PINGYI_PRINTF (3, 4);

static pingyi_reject_t
reject (char *err, pingyi_reject_t code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (err, PINGYI_ERR_MAX, fmt, ap);
        va_end (ap);
    }
    return code;
}

/*  A structural failure reported by the cursor, at where.  */
static pingyi_reject_t
malformed (char *err, const char *where, const pingyi_mp_t *r)
{
    const char *why = r->err ? r->err : "invalid";
    if (*where)
        return reject (err, PINGYI_REJECT_MALFORMED, "body: %s: %s", where, why);
    return reject (err, PINGYI_REJECT_MALFORMED, "body: %s", why);
}

/*  The same, at subjects[i] (.field) ([j]).  */
static pingyi_reject_t
malformed_at (char *err, const pingyi_mp_t *r, uint32_t i, const char *field, long j)
{
    char where[64];
    int n =
        snprintf (where, sizeof where, "subjects[%" PRIu32 "]%s%s", i, field ? "." : "", field ? field : "");
    if (j >= 0 && n > 0 && (size_t) n < sizeof where)
        snprintf (where + n, sizeof where - (size_t) n, "[%ld]", j);
    return malformed (err, where, r);
}

pingyi_reject_t
pingyi_ballot_decode (const pingyi_election_t *election, size_t venue, const uint8_t *body, size_t len,
                      pingyi_ballot_t *out, char *err)
{
    assert (venue < election->venue_count);
    memset (out, 0, sizeof *out);
    if (len > PINGYI_BODY_MAX)
        return reject (err, PINGYI_REJECT_MALFORMED, "body: %zu bytes, more than the %d a body may hold", len,
                       PINGYI_BODY_MAX);
    pingyi_mp_t r;
    pingyi_mp_init (&r, body, len);
    uint32_t n;
    uint64_t v;

    if (pingyi_mp_array (&r, &n, UINT32_MAX))
        return malformed (err, "", &r);
    if (n != 3)
        return reject (err, PINGYI_REJECT_MALFORMED,
                       "body: expected an array of 3 (version, category, subjects), got %" PRIu32, n);
    if (pingyi_mp_uint (&r, &v, UINT64_MAX))
        return malformed (err, "version", &r);
    if (v != PINGYI_BALLOT_VERSION)
        return reject (err, PINGYI_REJECT_MALFORMED, "body: version: expected %d, got %" PRIu64,
                       PINGYI_BALLOT_VERSION, v);
    if (pingyi_mp_uint (&r, &v, UINT32_MAX))
        return malformed (err, "category", &r);
    out->category = (uint32_t) v;
    if (pingyi_mp_array (&r, &n, PINGYI_MAX_FORM_SUBJECTS))
        return malformed (err, "subjects", &r);
    out->subject_count = n;
    /* The hot loop of every worker: 66 cells a ballot.  Positions are named
       only when something fails, never formatted on the way through.  */
    for (uint32_t i = 0; i < out->subject_count; i++) {
        if (pingyi_mp_array (&r, &n, UINT32_MAX))
            return malformed_at (err, &r, i, NULL, -1);
        if (n != 2)
            return reject (err, PINGYI_REJECT_MALFORMED,
                           "body: subjects[%" PRIu32 "]: expected [subject, marks], got an array of %" PRIu32,
                           i, n);
        if (pingyi_mp_uint (&r, &v, UINT32_MAX))
            return malformed_at (err, &r, i, "subject", -1);
        out->subjects[i] = (uint32_t) v;
        if (pingyi_mp_array (&r, &n, UINT32_MAX))
            return malformed_at (err, &r, i, "marks", -1);
        if (n != election->item_count)
            return reject (err, PINGYI_REJECT_MALFORMED,
                           "body: subjects[%" PRIu32 "].marks: expected %zu marks, got %" PRIu32, i,
                           election->item_count, n);
        for (uint32_t j = 0; j < n; j++) {
            if (pingyi_mp_uint (&r, &v, UINT32_MAX))
                return malformed_at (err, &r, i, "marks", (long) j);
            out->ticks[i][j] = (uint32_t) v;
        }
    }
    if (pingyi_mp_end (&r))
        return malformed (err, "", &r);
    return pingyi_ballot_validate (out, election, venue, err);
}

pingyi_reject_t
pingyi_ballot_validate (const pingyi_ballot_t *self, const pingyi_election_t *election, size_t venue,
                        char *err)
{
    assert (venue < election->venue_count);
    const pingyi_venue_t *v = &election->venues[venue];
    if (self->subject_count > PINGYI_MAX_FORM_SUBJECTS)
        return reject (err, PINGYI_REJECT_MALFORMED, "ballot has %" PRIu32 " subjects, more than %d",
                       self->subject_count, PINGYI_MAX_FORM_SUBJECTS);
    if (self->category >= election->category_count)
        return reject (err, PINGYI_REJECT_BAD_CATEGORY,
                       "category %" PRIu32 " is not defined (the election has %zu)", self->category,
                       election->category_count);

    /*  A ballot that is the venue's form, in its order, passes every check
        below: one pass settles the common case.  */
    bool as_form = self->subject_count == v->subject_count;
    for (uint32_t i = 0; as_form && i < self->subject_count; i++)
        as_form = self->subjects[i] == v->subjects[i];
    if (!as_form) {
        /*  Each subject on the form, once; then none missing; then form order.
            Checked in that order so the reason names the real fault: a ballot
            that skips a subject reports it missing, not out of order.  */
        bool seen[PINGYI_MAX_FORM_SUBJECTS] = {false};
        for (uint32_t i = 0; i < self->subject_count; i++) {
            uint32_t s = self->subjects[i];
            if (s >= election->subject_count)
                return reject (err, PINGYI_REJECT_NOT_ON_FORM,
                               "subject %" PRIu32
                               " is not on venue %s's form (the election has %zu subjects)",
                               s, v->id, election->subject_count);
            int pos = pingyi_election_form_index (election, venue, s);
            if (pos < 0)
                return reject (err, PINGYI_REJECT_NOT_ON_FORM,
                               "subject %" PRIu32 " (%s) is not on venue %s's form", s,
                               election->subjects[s].id, v->id);
            if (seen[pos])
                return reject (err, PINGYI_REJECT_NOT_ON_FORM,
                               "subject %" PRIu32 " (%s) appears twice on the ballot", s,
                               election->subjects[s].id);
            seen[pos] = true;
        }
        for (size_t k = 0; k < v->subject_count; k++)
            if (!seen[k])
                return reject (err, PINGYI_REJECT_NOT_ON_FORM,
                               "subject %zu (%s) of venue %s's form is missing", v->subjects[k],
                               election->subjects[v->subjects[k]].id, v->id);
        for (uint32_t i = 0; i < self->subject_count; i++)
            if (self->subjects[i] != v->subjects[i]) {
                uint32_t s = self->subjects[i];
                return reject (err, PINGYI_REJECT_NOT_ON_FORM,
                               "subjects[%" PRIu32 "] is subject %" PRIu32
                               " (%s), but venue %s's form has %zu (%s) there",
                               i, s, election->subjects[s].id, v->id, v->subjects[i],
                               election->subjects[v->subjects[i]].id);
            }
    }

    for (uint32_t i = 0; i < self->subject_count; i++)
        for (size_t j = 0; j < election->item_count; j++) {
            const pingyi_item_t *item = &election->items[j];
            const pingyi_choice_set_t *set = &election->choice_sets[item->choice_set];
            uint64_t outside = (uint64_t) self->ticks[i][j] >> set->choice_count;
            if (outside) {
                unsigned bit = (unsigned) __builtin_ctzll (outside) + (unsigned) set->choice_count;
                uint32_t s = self->subjects[i];
                return reject (err, PINGYI_REJECT_BAD_MARK,
                               "subject %" PRIu32
                               " (%s), item %s: choice %u is outside the %zu choices of %s",
                               s, election->subjects[s].id, item->id, bit, set->choice_count, set->id);
            }
        }
    return PINGYI_REJECT_NONE;
}

size_t
pingyi_cell_marks (const pingyi_item_t *item, uint32_t mask, uint8_t *marks)
{
    /* Called for every cell of every ballot counted or recounted: the common
       cases (one tick, or none) cost a compare and a ctz, no loop. */
    if (mask == 0) {
        marks[0] = PINGYI_MARK_BLANK;
        return 1;
    }
    if ((mask & (mask - 1)) == 0) {
        marks[0] = (uint8_t) __builtin_ctz (mask);
        return 1;
    }
    if ((unsigned) __builtin_popcount (mask) > item->max_choices) {
        marks[0] = PINGYI_MARK_OVER;
        return 1;
    }
    size_t n = 0;
    for (uint32_t rest = mask; rest; rest &= rest - 1)
        marks[n++] = (uint8_t) __builtin_ctz (rest);
    return n;
}

bool
pingyi_ballot_is_blank (const pingyi_ballot_t *self, const pingyi_election_t *election)
{
    uint32_t subjects =
        self->subject_count > PINGYI_MAX_FORM_SUBJECTS ? PINGYI_MAX_FORM_SUBJECTS : self->subject_count;
    size_t items = election->item_count > PINGYI_MAX_ITEMS ? PINGYI_MAX_ITEMS : election->item_count;
    for (uint32_t i = 0; i < subjects; i++)
        for (size_t j = 0; j < items; j++)
            if (self->ticks[i][j])
                return false;
    return true;
}

/*  ---------------------------------------------------------------------
    Counter keys: big-endian so LMDB's byte order is (venue, subject, item,
    category, mark) order, and a venue's counters are one contiguous range.  */

void
pingyi_counter_key_pack (const pingyi_counter_key_t *key, uint8_t out[PINGYI_COUNTER_KEY_LEN])
{
    pingyi_put_be16 (out, key->venue);
    pingyi_put_be16 (out + 2, key->subject);
    out[4] = key->item;
    out[5] = key->category;
    out[6] = key->mark;
    out[7] = 0; /* pad: room for a wider field later without reordering */
}

void
pingyi_counter_key_unpack (const uint8_t in[PINGYI_COUNTER_KEY_LEN], pingyi_counter_key_t *key)
{
    key->venue = pingyi_get_be16 (in);
    key->subject = pingyi_get_be16 (in + 2);
    key->item = in[4];
    key->category = in[5];
    key->mark = in[6];
}

uint64_t
pingyi_counter_key_u64 (const pingyi_counter_key_t *key)
{
    uint8_t b[PINGYI_COUNTER_KEY_LEN];
    pingyi_counter_key_pack (key, b);
    return pingyi_get_be64 (b);
}

void
pingyi_ballot_count (const pingyi_ballot_t *self, const pingyi_election_t *election, size_t venue,
                     pingyi_count_fn *fn, void *arg)
{
    assert (self->subject_count <= PINGYI_MAX_FORM_SUBJECTS);
    pingyi_counter_key_t key = {.venue = (uint16_t) venue, .category = (uint8_t) self->category};
    uint8_t marks[PINGYI_MAX_CHOICES];
    for (uint32_t i = 0; i < self->subject_count; i++) {
        key.subject = (uint16_t) self->subjects[i];
        for (size_t j = 0; j < election->item_count; j++) {
            key.item = (uint8_t) j;
            size_t n = pingyi_cell_marks (&election->items[j], self->ticks[i][j], marks);
            for (size_t m = 0; m < n; m++) {
                key.mark = marks[m];
                fn (&key, arg);
            }
        }
    }
}

void
pingyi_ballot_count_cells (const pingyi_ballot_t *self, const pingyi_election_t *election, uint32_t *cells,
                           size_t marks)
{
    assert (self->subject_count <= PINGYI_MAX_FORM_SUBJECTS);
    size_t per_item = election->category_count * marks;
    size_t per_row = election->item_count * per_item;
    uint8_t got[PINGYI_MAX_CHOICES];
    for (uint32_t i = 0; i < self->subject_count; i++) {
        uint32_t *row = cells + i * per_row + (size_t) self->category * marks;
        for (size_t j = 0; j < election->item_count; j++) {
            uint32_t *cell = row + j * per_item;
            size_t n = pingyi_cell_marks (&election->items[j], self->ticks[i][j], got);
            for (size_t k = 0; k < n; k++) {
                size_t m = pingyi_count_cell (got[k], marks);
                assert (m < marks);
                cell[m]++;
            }
        }
    }
}
