/*  shards.c — snapshot assembly and freshness per shard (see shards.h).

    Each shard moves through three phases:
        IDLE  nothing outstanding (answered, refused, told to retry later)
        WANT  a query is due: agg_shards_want offers it until it is sent
        WAIT  a query went out at sent_ms under tag; its answer is awaited
    A page answering the outstanding tag is checked and appended to the
    pending set; `more` queues the next page under a fresh tag, the last page
    swaps the pending set with the current snapshot.  Tags are
    (serial << 8) | shard, serial counting every query ever sent, so an
    answer names its shard and an answer to anything but the outstanding
    query (a page of an abandoned set, an answer arriving after its timeout)
    is recognised and dropped.

    Invariants:
    - `current` of a shard is always one complete, checked page set, or
      nothing (have = false); nothing partial is ever merged.
    - Count blocks of a pending set are strictly ascending by (venue,
      subject) across its pages, so a block is never added twice; each is
      checked (a venue of the shard, a subject on its form, the election's
      block width, nothing in a slot no ballot reaches) and their number is
      bounded by the (venue, subject) pairs of the shard (capacity), so
      memory is bounded by the election, not by the sender.  */
#include "shards.h"

#include <stdlib.h>
#include <string.h>

#define RESTARTS_MAX 3           /* set restarts in one round before waiting for the next */
#define RETRY_HONOURED_MAX 60000 /* a RETRY's retry_ms longer than this is cut to it */

typedef enum { PHASE_IDLE = 0, PHASE_WANT, PHASE_WAIT } phase_t;

/*  One page set: the figures of the shard's venues and its count blocks
    (keys[i]: venue << 16 | subject; cells: block i at i × width bytes).  */
typedef struct {
    uint64_t sequence;
    uint8_t digest[32];
    uint64_t generation;
    pingyi_venue_figures_t *venues;
    size_t venue_count;
    uint32_t *keys;
    uint8_t *cells;
    size_t block_count;
    size_t block_cap;
} set_t;

typedef struct {
    uint32_t shard;
    size_t venue_count; /* venues of this shard, per the definition */
    size_t capacity;    /* most blocks its venues can have: their (venue, subject) pairs */
    /* the last complete snapshot */
    bool have;
    set_t current;
    int64_t complete_ms;
    /* the set being assembled */
    set_t pending;
    uint32_t pages;    /* pages in pending */
    uint32_t from;     /* block key asked for in the outstanding query */
    uint32_t last_key; /* last key taken into pending (valid when pending has blocks) */
    phase_t phase;
    uint64_t tag;
    int64_t sent_ms;
    int64_t not_before; /* RETRY asked us to wait until then */
    int restarts;       /* in this round */
    bool reported_stale;
    char reason[PINGYI_TEXT_MAX];
} shard_t;

struct agg_shards_t {
    const pingyi_election_t *election;
    pingyi_count_shape_t shape;
    size_t block_bytes; /* shape.width × 4 */
    int64_t interval_ms;
    int64_t stale_ms;
    int64_t created_ms;
    bool created_set;
    shard_t *shards;
    uint32_t count;
    uint32_t cursor; /* where agg_shards_want looks first */
    uint64_t serial; /* queries ever tagged */
    uint32_t *seen;  /* by venue: stamp of the last page naming it */
    uint32_t stamp;
    bool changed;
    agg_shards_stats_t stats;
};

static uint32_t
key_u32 (const uint8_t key[PINGYI_BLOCK_KEY_BYTES])
{
    return pingyi_get_be32 (key);
}

static void
set_free (set_t *set)
{
    free (set->venues);
    free (set->keys);
    free (set->cells);
    memset (set, 0, sizeof *set);
}

agg_shards_t *
agg_shards_new (const pingyi_election_t *election, int64_t interval_ms, int64_t stale_ms)
{
    agg_shards_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->election = election;
    self->interval_ms = interval_ms;
    self->stale_ms = stale_ms;
    self->count = election->shard_count;
    self->shards = calloc (self->count, sizeof *self->shards);
    self->seen = calloc (election->venue_count ? election->venue_count : 1, sizeof *self->seen);
    if (!self->shards || !self->seen)
        goto fail;
    pingyi_count_shape (election, &self->shape);
    self->block_bytes = self->shape.width * 4;
    for (size_t v = 0; v < election->venue_count; v++) {
        shard_t *s = &self->shards[election->venues[v].shard];
        s->venue_count++;
        s->capacity += election->venues[v].subject_count;
    }
    for (uint32_t i = 0; i < self->count; i++) {
        shard_t *s = &self->shards[i];
        s->shard = i;
        /* the figures of a set never outnumber the shard's venues (checked
           per page), so both sets get their room once */
        size_t n = s->venue_count ? s->venue_count : 1;
        s->current.venues = calloc (n, sizeof *s->current.venues);
        s->pending.venues = calloc (n, sizeof *s->pending.venues);
        if (!s->current.venues || !s->pending.venues)
            goto fail;
        snprintf (s->reason, sizeof s->reason, "no snapshot yet");
    }
    return self;
fail:
    agg_shards_destroy (&self);
    return NULL;
}

void
agg_shards_destroy (agg_shards_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    agg_shards_t *self = *self_p;
    for (uint32_t i = 0; self->shards && i < self->count; i++) {
        set_free (&self->shards[i].current);
        set_free (&self->shards[i].pending);
    }
    free (self->shards);
    free (self->seen);
    free (self);
    *self_p = NULL;
}

/*  Queue a query for the shard's first page under a fresh tag.  */
static void
ask_from_start (agg_shards_t *self, shard_t *s)
{
    s->pending.venue_count = 0;
    s->pending.block_count = 0;
    s->pages = 0;
    s->from = 0;
    s->phase = PHASE_WANT;
    s->tag = (++self->serial << 8) | s->shard;
}

void
agg_shards_round (agg_shards_t *self, int64_t now)
{
    if (!self->created_set) {
        self->created_ms = now;
        self->created_set = true;
    }
    for (uint32_t i = 0; i < self->count; i++) {
        shard_t *s = &self->shards[i];
        s->restarts = 0;
        if (s->phase == PHASE_WAIT && now - s->sent_ms >= self->interval_ms) {
            self->stats.timeouts++;
            snprintf (s->reason, sizeof s->reason, "no answer within %lld ms", (long long) self->interval_ms);
            ask_from_start (self, s);
        }
        else if (s->phase == PHASE_IDLE && now >= s->not_before)
            ask_from_start (self, s);
    }
}

void
agg_shards_abandon (agg_shards_t *self, const char *reason)
{
    for (uint32_t i = 0; i < self->count; i++) {
        shard_t *s = &self->shards[i];
        if (s->phase == PHASE_IDLE)
            continue;
        s->phase = PHASE_IDLE;
        s->not_before = 0;
        s->pending.venue_count = s->pending.block_count = 0;
        snprintf (s->reason, sizeof s->reason, "%s", reason);
    }
}

bool
agg_shards_want (agg_shards_t *self, uint32_t *shard, uint64_t *tag, uint8_t from[PINGYI_BLOCK_KEY_BYTES])
{
    for (uint32_t n = 0; n < self->count; n++) {
        uint32_t i = (self->cursor + n) % self->count;
        shard_t *s = &self->shards[i];
        if (s->phase != PHASE_WANT)
            continue;
        self->cursor = i;
        *shard = i;
        *tag = s->tag;
        pingyi_row_key_pack (s->from >> 16, s->from & 0xffff, from);
        return true;
    }
    return false;
}

void
agg_shards_sent (agg_shards_t *self, uint32_t shard, int64_t now)
{
    if (!self->created_set) {
        self->created_ms = now;
        self->created_set = true;
    }
    if (shard >= self->count || self->shards[shard].phase != PHASE_WANT)
        return;
    self->shards[shard].phase = PHASE_WAIT;
    self->shards[shard].sent_ms = now;
    self->stats.queries_sent++;
    self->cursor = (shard + 1) % self->count;
}

/*  The shard whose outstanding query carries tag, or NULL.  */
static shard_t *
outstanding (agg_shards_t *self, uint64_t tag)
{
    uint32_t i = (uint32_t) (tag & 0xff);
    if (i >= self->count)
        return NULL;
    shard_t *s = &self->shards[i];
    if (s->phase != PHASE_WAIT || s->tag != tag)
        return NULL;
    return s;
}

static bool
figures_equal (const pingyi_venue_figures_t *a, const pingyi_venue_figures_t *b)
{
    if (a->venue != b->venue || a->accepted != b->accepted || a->blank != b->blank ||
        a->duplicates != b->duplicates || a->rejected != b->rejected || a->issued != b->issued ||
        a->collected != b->collected || a->sent != b->sent || a->closed != b->closed ||
        a->reopens != b->reopens || a->category_count != b->category_count)
        return false;
    return memcmp (a->rejected_by, b->rejected_by, sizeof a->rejected_by) == 0 &&
           memcmp (a->by_category, b->by_category, a->category_count * sizeof a->by_category[0]) == 0;
}

static bool
sets_equal (size_t block_bytes, const set_t *a, const set_t *b)
{
    if (a->sequence != b->sequence || a->generation != b->generation ||
        memcmp (a->digest, b->digest, 32) != 0 || a->venue_count != b->venue_count ||
        a->block_count != b->block_count)
        return false;
    for (size_t i = 0; i < a->venue_count; i++)
        if (!figures_equal (&a->venues[i], &b->venues[i]))
            return false;
    return a->block_count == 0 || (memcmp (a->keys, b->keys, a->block_count * sizeof *a->keys) == 0 &&
                                   memcmp (a->cells, b->cells, a->block_count * block_bytes) == 0);
}

/*  Drop the pending set after a refused page: the shard keeps its snapshot
    and is asked again next round.  */
static agg_feed_t refuse (agg_shards_t *self, shard_t *s, uint64_t *counter, char *err, const char *fmt, ...)
    PINGYI_PRINTF (5, 6);

static agg_feed_t
refuse (agg_shards_t *self, shard_t *s, uint64_t *counter, char *err, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (s->reason, sizeof s->reason, fmt, ap);
    va_end (ap);
    self->stats.refused++;
    (*counter)++;
    s->phase = PHASE_IDLE;
    s->not_before = 0;
    s->pending.venue_count = s->pending.block_count = 0;
    pingyi_fail (err, "shard %u: page refused: %s", s->shard, s->reason);
    return AGG_FEED_REFUSED;
}

static agg_feed_t
take_page (agg_shards_t *self, shard_t *s, const pingyi_msg_t *msg, int64_t now, char *err)
{
    const pingyi_election_t *e = self->election;
    typeof (msg->u.snapshot) page = msg->u.snapshot;
    if (memcmp (page.fingerprint, e->fingerprint, PINGYI_FP_LEN) != 0 || page.shard_count != e->shard_count)
        return refuse (self, s, &self->stats.refused_election, err,
                       "the page is of another election (shard count %u, fingerprint differs: %s)",
                       page.shard_count,
                       memcmp (page.fingerprint, e->fingerprint, PINGYI_FP_LEN) ? "yes" : "no");
    if (page.shard != s->shard)
        return refuse (self, s, &self->stats.refused_shard, err, "asked for shard %u, got a page of shard %u",
                       s->shard, page.shard);
    if (s->pages > 0 && (page.generation != s->pending.generation || page.sequence != s->pending.sequence ||
                         memcmp (page.digest, s->pending.digest, 32))) {
        /* the shard released something between two pages: its earlier
           pages are of another generation, so start the set again */
        self->stats.restarts++;
        if (++s->restarts > RESTARTS_MAX) {
            snprintf (s->reason, sizeof s->reason, "the shard moved between pages %d times in a row",
                      RESTARTS_MAX + 1);
            s->phase = PHASE_IDLE;
            s->not_before = 0;
            s->pending.venue_count = s->pending.block_count = 0;
            pingyi_fail (err, "shard %u: %s", s->shard, s->reason);
            return AGG_FEED_RETRY;
        }
        ask_from_start (self, s);
        return AGG_FEED_RESTARTED;
    }
    /* figures: every venue of this shard at most once; the last page's
       figures are the set's (every page of the set has the same
       generation, so the same released figures) */
    if (page.venues.count > s->venue_count)
        return refuse (self, s, &self->stats.refused_venue, err,
                       "%u venue figures, but the shard has %zu venues", page.venues.count, s->venue_count);
    if (++self->stamp == 0) {
        memset (self->seen, 0, (e->venue_count ? e->venue_count : 1) * sizeof *self->seen);
        self->stamp = 1;
    }
    pingyi_list_t venues = page.venues;
    pingyi_venue_figures_t f;
    size_t nv = 0;
    while (pingyi_list_next_figures (&venues, &f)) {
        if (f.venue >= e->venue_count || e->venues[f.venue].shard != s->shard)
            return refuse (self, s, &self->stats.refused_venue, err,
                           "figures of venue %u, not a venue of shard %u", f.venue, s->shard);
        if (self->seen[f.venue] == self->stamp)
            return refuse (self, s, &self->stats.refused_venue, err, "figures of venue %s twice",
                           e->venues[f.venue].id);
        if (f.category_count > e->category_count)
            return refuse (self, s, &self->stats.refused_venue, err,
                           "figures of venue %s: by_category has %u entries, the election %zu categories",
                           e->venues[f.venue].id, f.category_count, e->category_count);
        self->seen[f.venue] = self->stamp;
        s->pending.venues[nv++] = f;
    }
    /* blocks: strictly ascending from the key asked for, each a sound
       block of a (venue, subject) of this shard, no more than its venues
       can hold */
    if ((size_t) page.blocks.count > s->capacity - s->pending.block_count)
        return refuse (self, s, &self->stats.refused_size, err,
                       "more count blocks (%zu + %u) than the shard's venues can hold (%zu)",
                       s->pending.block_count, page.blocks.count, s->capacity);
    size_t need = s->pending.block_count + page.blocks.count;
    if (need > s->pending.block_cap) {
        size_t cap = s->pending.block_cap ? s->pending.block_cap : 256;
        while (cap < need)
            cap *= 2;
        if (cap > s->capacity)
            cap = s->capacity;
        uint32_t *keys = realloc (s->pending.keys, cap * sizeof *keys);
        if (keys)
            s->pending.keys = keys;
        uint8_t *cells = keys ? realloc (s->pending.cells, cap * self->block_bytes + 1) : NULL;
        if (!cells)
            return refuse (self, s, &self->stats.refused_size, err, "out of memory for %zu count blocks", cap);
        s->pending.cells = cells;
        s->pending.block_cap = cap;
    }
    pingyi_list_t blocks = page.blocks;
    pingyi_block_t blk;
    size_t n = s->pending.block_count;
    uint32_t last = s->last_key;
    bool any = n > 0;
    while (pingyi_list_next_block (&blocks, &blk)) {
        uint32_t k = blk.venue << 16 | blk.subject;
        if (k < s->from || (any && k <= last))
            return refuse (self, s, &self->stats.refused_order, err,
                           "count block %08x is not after the previous one (%08x, asked from %08x)", k, last,
                           s->from);
        if (blk.venue >= e->venue_count || e->venues[blk.venue].shard != s->shard ||
            pingyi_election_form_index (e, blk.venue, blk.subject) < 0)
            return refuse (self, s, &self->stats.refused_key, err,
                           "count block of venue %u, subject %u: not a subject on the form of a venue of shard %u",
                           blk.venue, blk.subject, s->shard);
        long bad = pingyi_count_block_bad_cell (e, &self->shape, blk.cells, blk.len);
        if (bad == (long) self->shape.width)
            return refuse (self, s, &self->stats.refused_key, err,
                           "count block of venue %s, subject %s: %zu bytes, the election's blocks have %zu",
                           e->venues[blk.venue].id, e->subjects[blk.subject].id, blk.len, self->block_bytes);
        if (bad >= 0)
            return refuse (self, s, &self->stats.refused_key, err,
                           "count block of venue %s, subject %s: a count in cell %ld, which no ballot can reach",
                           e->venues[blk.venue].id, e->subjects[blk.subject].id, bad);
        s->pending.keys[n] = k;
        memcpy (s->pending.cells + n * self->block_bytes, blk.cells, self->block_bytes);
        n++;
        last = k;
        any = true;
    }
    uint32_t next = key_u32 (page.next);
    if (page.more && (page.blocks.count == 0 || next <= last))
        return refuse (self, s, &self->stats.refused_order, err,
                       "`more` with next key %08x not after the page's last key (%u count blocks)", next,
                       page.blocks.count);
    /* the page is good: take it */
    s->pending.block_count = n;
    s->pending.venue_count = nv;
    s->last_key = last;
    if (s->pages++ == 0) {
        s->pending.sequence = page.sequence;
        s->pending.generation = page.generation;
        memcpy (s->pending.digest, page.digest, 32);
    }
    self->stats.pages++;
    if (page.more) {
        s->from = next;
        s->phase = PHASE_WANT;
        s->tag = (++self->serial << 8) | s->shard;
        return AGG_FEED_PAGE;
    }
    /* the last page: adopt the whole set */
    bool differs = !s->have || !sets_equal (self->block_bytes, &s->pending, &s->current);
    set_t t = s->current;
    s->current = s->pending;
    s->pending = t;
    s->pending.venue_count = s->pending.block_count = 0;
    s->have = true;
    s->complete_ms = now;
    s->phase = PHASE_IDLE;
    s->not_before = 0;
    s->reason[0] = 0;
    self->stats.completes++;
    if (differs) {
        self->stats.changes++;
        self->changed = true;
    }
    return AGG_FEED_COMPLETE;
}

agg_feed_t
agg_shards_feed (agg_shards_t *self, const pingyi_msg_t *msg, int64_t now, uint32_t *shard, char *err)
{
    *shard = UINT32_MAX;
    if (err)
        err[0] = 0;
    uint64_t tag;
    switch (msg->type) {
    case PINGYI_MSG_SNAPSHOT:
        tag = msg->u.snapshot.tag;
        break;
    case PINGYI_MSG_RETRY:
        tag = msg->u.retry.tag;
        break;
    case PINGYI_MSG_ERROR:
        tag = msg->u.error.tag;
        break;
    default:
        return AGG_FEED_IGNORED;
    }
    shard_t *s = outstanding (self, tag);
    if (!s) {
        if (msg->type == PINGYI_MSG_ERROR) {
            /* an ERROR we cannot place (tag 0: our frame did not decode)
               still says something the operator must see */
            self->stats.errors++;
            pingyi_fail (err, "ERROR %u: %.*s", msg->u.error.code, (int) msg->u.error.text.len,
                         msg->u.error.text.p);
            return AGG_FEED_ERROR;
        }
        self->stats.late++;
        return AGG_FEED_LATE;
    }
    *shard = s->shard;
    if (msg->type == PINGYI_MSG_SNAPSHOT)
        return take_page (self, s, msg, now, err);
    s->phase = PHASE_IDLE;
    s->pending.venue_count = s->pending.block_count = 0;
    if (msg->type == PINGYI_MSG_RETRY) {
        self->stats.retries++;
        uint32_t wait =
            msg->u.retry.retry_ms < RETRY_HONOURED_MAX ? msg->u.retry.retry_ms : RETRY_HONOURED_MAX;
        s->not_before = now + wait;
        snprintf (s->reason, sizeof s->reason, "%.*s", (int) msg->u.retry.reason.len, msg->u.retry.reason.p);
        pingyi_fail (err, "shard %u: RETRY: %s", s->shard, s->reason);
        return AGG_FEED_RETRY;
    }
    self->stats.errors++;
    s->not_before = 0;
    snprintf (s->reason, sizeof s->reason, "ERROR %u: %.*s", msg->u.error.code, (int) msg->u.error.text.len,
              msg->u.error.text.p);
    pingyi_fail (err, "shard %u: %s", s->shard, s->reason);
    return AGG_FEED_ERROR;
}

bool
agg_shards_idle (const agg_shards_t *self)
{
    for (uint32_t i = 0; i < self->count; i++)
        if (self->shards[i].phase != PHASE_IDLE)
            return false;
    return true;
}

bool
agg_shards_changed (const agg_shards_t *self)
{
    return self->changed;
}

uint64_t
agg_shards_merge (agg_shards_t *self, pingyi_tally_t *tally)
{
    pingyi_tally_reset (tally);
    uint64_t refused = 0;
    for (uint32_t i = 0; i < self->count; i++) {
        const shard_t *s = &self->shards[i];
        if (!s->have)
            continue;
        for (size_t b = 0; b < s->current.block_count; b++)
            if (pingyi_tally_add_block (tally, s->current.keys[b] >> 16, s->current.keys[b] & 0xffff,
                                        s->current.cells + b * self->block_bytes, self->block_bytes))
                refused++;
        for (size_t v = 0; v < s->current.venue_count; v++)
            if (pingyi_tally_set_figures (tally, &s->current.venues[v]))
                refused++;
    }
    self->changed = false;
    return refused;
}

int64_t
agg_shard_age (const agg_shard_info_t *info, int64_t now)
{
    if (!info->have)
        return -1;
    return now > info->complete_ms ? now - info->complete_ms : 0;
}

bool
agg_shard_stale (const agg_shard_info_t *info, int64_t now, int64_t stale_ms)
{
    return !info->have || agg_shard_age (info, now) > stale_ms;
}

bool
agg_shards_stale (const agg_shards_t *self, uint32_t shard, int64_t now)
{
    const shard_t *s = &self->shards[shard];
    return !s->have || now - s->complete_ms > self->stale_ms;
}

int64_t
agg_shards_age (const agg_shards_t *self, uint32_t shard, int64_t now)
{
    const shard_t *s = &self->shards[shard];
    if (!s->have)
        return -1;
    return now > s->complete_ms ? now - s->complete_ms : 0;
}

int
agg_shards_transition (agg_shards_t *self, uint32_t shard, int64_t now)
{
    shard_t *s = &self->shards[shard];
    bool stale = agg_shards_stale (self, shard, now);
    if (stale && !s->have && (!self->created_set || now - self->created_ms <= self->stale_ms))
        stale = false; /* still starting up */
    if (stale == s->reported_stale)
        return 0;
    s->reported_stale = stale;
    return stale ? 1 : -1;
}

void
agg_shards_info (const agg_shards_t *self, uint32_t shard, agg_shard_info_t *info)
{
    const shard_t *s = &self->shards[shard];
    info->shard = shard;
    info->have = s->have;
    info->sequence = s->have ? s->current.sequence : 0;
    info->generation = s->have ? s->current.generation : 0;
    memcpy (info->digest, s->current.digest, 32);
    info->complete_ms = s->complete_ms;
    snprintf (info->reason, sizeof info->reason, "%s", s->reason);
}

void
agg_shards_stats (const agg_shards_t *self, agg_shards_stats_t *stats)
{
    *stats = self->stats;
}

uint32_t
agg_shards_count (const agg_shards_t *self)
{
    return self->count;
}
