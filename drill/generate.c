/*  generate.c — reproducible drill ballots and their exact tally.

    Randomness is xoshiro256** seeded through splitmix64 from the seed and
    an FNV-1a hash of the venue id (never rand(): its sequence differs
    between C libraries, and the stream must be the same everywhere).  All
    arithmetic is integer, so no libm rounding can make two machines
    disagree about ballot k.

    Invariant: every draw is made in the same order whatever happens, and
    the per-venue parameters are drawn before ballot 0; so ballot k depends
    only on (election form, venue id, seed, k).  */
#define _GNU_SOURCE
#include "generate.h"
#include "json_text.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLANK_BALLOT_PER_MILLE 10 /* 1% blank ballots */
#define BLANK_CELL_PER_10K 200    /* 2% BLANK cells */
#define OVER_CELL_PER_10K 50      /* 0.5% OVER cells */
#define WEIGHT_ONE (1u << 20)

struct pingyi_generator_t {
    const pingyi_election_t *election;
    size_t venue;
    uint64_t count;
    uint64_t produced;
    uint64_t blank_ballots;
    uint64_t s[4];        /* xoshiro256** state */
    size_t subject_count; /* on the form */
    size_t item_count;
    size_t category_count;
    uint32_t *category_cum; /* cumulative category weights */
    uint32_t *grade_cum; /* per (form position, item): cumulative choice weights, PINGYI_MAX_CHOICES each */
    size_t slots;        /* per counter cell: choices of the largest set, BLANK, OVER */
    uint64_t *counts;    /* [(pos * items + item) * categories + category][slot] */
    crypto_hash_sha256_state digest;
};

/*  ---------------------------------------------------------------------
    Randomness  */

static uint64_t
splitmix64 (uint64_t *x)
{
    uint64_t z = (*x += UINT64_C (0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C (0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C (0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t
rotl (uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t
next64 (pingyi_generator_t *self)
{
    uint64_t *s = self->s;
    uint64_t result = rotl (s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl (s[3], 45);
    return result;
}

/*  Uniform in [0, n), n > 0.  The modulo bias is below 2^-40 for the
    small n used here; what matters is that it is the same everywhere.  */
static uint32_t
below (pingyi_generator_t *self, uint32_t n)
{
    return (uint32_t) ((next64 (self) >> 11) % n);
}

static size_t
pick (pingyi_generator_t *self, const uint32_t *cum, size_t n)
{
    uint32_t r = below (self, cum[n - 1]);
    size_t i = 0;
    while (cum[i] <= r)
        i++;
    return i;
}

/*  ---------------------------------------------------------------------
    Construction  */

pingyi_generator_t *
pingyi_generator_new (const pingyi_election_t *election, size_t venue, uint64_t seed, uint64_t count)
{
    if (!election || venue >= election->venue_count || !election->category_count)
        return NULL;
    pingyi_generator_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    const pingyi_venue_t *v = &election->venues[venue];
    self->election = election;
    self->venue = venue;
    self->count = count;
    self->subject_count = v->subject_count;
    self->item_count = election->item_count;
    self->category_count = election->category_count;
    size_t most = 0;
    for (size_t i = 0; i < election->item_count; i++) {
        size_t n = election->choice_sets[election->items[i].choice_set].choice_count;
        if (n > most)
            most = n;
    }
    self->slots = most + 2;
    size_t cells = self->subject_count * self->item_count;
    self->category_cum = calloc (self->category_count, sizeof *self->category_cum);
    self->grade_cum = calloc (cells * PINGYI_MAX_CHOICES, sizeof *self->grade_cum);
    self->counts = calloc (cells * self->category_count * self->slots, sizeof *self->counts);
    if (!self->category_cum || !self->grade_cum || !self->counts) {
        pingyi_generator_destroy (&self);
        return NULL;
    }
    crypto_hash_sha256_init (&self->digest);

    /*  Seed from the seed and the venue id, so venues of one drill differ.  */
    uint64_t h = UINT64_C (0xcbf29ce484222325);
    for (const char *p = v->id; *p; p++)
        h = (h ^ (uint8_t) *p) * UINT64_C (0x100000001b3);
    uint64_t x = seed ^ rotl (h, 32);
    for (int i = 0; i < 4; i++)
        self->s[i] = splitmix64 (&x);

    /*  Category proportions: weights 1..8, drawn once per venue.  */
    uint32_t acc = 0;
    for (size_t c = 0; c < self->category_count; c++)
        self->category_cum[c] = acc += 1 + below (self, 8);

    /*  Grade bias: per subject a decay ratio between 40/256 and 120/256 from
        one choice to the next (a strong subject gets mostly the first
        choice, 好; a weaker one spreads toward 一般 and 差), varied by
        +-10/256 per item.  */
    for (size_t pos = 0; pos < self->subject_count; pos++) {
        uint32_t decay = 40 + below (self, 81);
        for (size_t i = 0; i < self->item_count; i++) {
            int32_t f = (int32_t) decay + (int32_t) below (self, 21) - 10;
            uint32_t *cum = &self->grade_cum[(pos * self->item_count + i) * PINGYI_MAX_CHOICES];
            size_t n = election->choice_sets[election->items[i].choice_set].choice_count;
            uint64_t w = WEIGHT_ONE;
            uint32_t total = 0;
            for (size_t k = 0; k < n; k++) {
                total += (uint32_t) (w ? w : 1);
                cum[k] = total;
                w = w * (uint64_t) f / 256;
            }
        }
    }
    return self;
}

void
pingyi_generator_destroy (pingyi_generator_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pingyi_generator_t *self = *self_p;
    free (self->category_cum);
    free (self->grade_cum);
    free (self->counts);
    free (self);
    *self_p = NULL;
}

uint64_t
pingyi_generator_produced (const pingyi_generator_t *self)
{
    return self->produced;
}

void
pingyi_generator_digest (const pingyi_generator_t *self, uint8_t out[PINGYI_GEN_DIGEST_LEN])
{
    crypto_hash_sha256_state copy = self->digest;
    crypto_hash_sha256_final (&copy, out);
}

/*  ---------------------------------------------------------------------
    Ballots  */

static void
digest_u32 (pingyi_generator_t *self, uint32_t v)
{
    uint8_t b[4] = {(uint8_t) v, (uint8_t) (v >> 8), (uint8_t) (v >> 16), (uint8_t) (v >> 24)};
    crypto_hash_sha256_update (&self->digest, b, 4);
}

bool
pingyi_generator_next (pingyi_generator_t *self, pingyi_ballot_t *ballot)
{
    if (self->produced >= self->count)
        return false;
    const pingyi_election_t *e = self->election;
    pingyi_ballot_init (ballot, e, self->venue);
    size_t category = pick (self, self->category_cum, self->category_count);
    ballot->category = (uint32_t) category;
    bool blank_ballot = below (self, 1000) < BLANK_BALLOT_PER_MILLE;
    bool any_tick = false;
    digest_u32 (self, (uint32_t) category);
    for (size_t pos = 0; pos < self->subject_count; pos++)
        for (size_t i = 0; i < self->item_count; i++) {
            const pingyi_item_t *item = &e->items[i];
            size_t n = e->choice_sets[item->choice_set].choice_count;
            size_t slot;
            uint32_t mask = 0;
            uint32_t r = blank_ballot ? 0 : below (self, 10000);
            if (blank_ballot || r < BLANK_CELL_PER_10K)
                slot = self->slots - 2; /* BLANK */
            else if (r < BLANK_CELL_PER_10K + OVER_CELL_PER_10K && n > item->max_choices) {
                /*  One tick more than allowed: 多选无效 for this cell.  */
                while ((unsigned) __builtin_popcount (mask) <= item->max_choices)
                    mask |= UINT32_C (1) << below (self, (uint32_t) n);
                slot = self->slots - 1; /* OVER */
            }
            else {
                slot = pick (self, &self->grade_cum[(pos * self->item_count + i) * PINGYI_MAX_CHOICES], n);
                mask = UINT32_C (1) << slot;
            }
            any_tick |= mask != 0;
            ballot->ticks[pos][i] = mask;
            digest_u32 (self, mask);
            self->counts[((pos * self->item_count + i) * self->category_count + category) * self->slots +
                         slot]++;
        }
    if (!any_tick)
        self->blank_ballots++;
    self->produced++;
    return true;
}

/*  Pairs (subject index, form position), by subject index.  */
static int
by_subject_index (const void *a, const void *b)
{
    size_t x = *(const size_t *) a, y = *(const size_t *) b;
    return x < y ? -1 : x > y;
}

int
pingyi_generator_write_tally (const pingyi_generator_t *self, FILE *out, char *err)
{
    const pingyi_election_t *e = self->election;
    const pingyi_venue_t *v = &e->venues[self->venue];
    /*  Form positions in the order of the subjects' definition indices,
        which is the order of the shards' counter keys.  */
    size_t *order = calloc (self->subject_count ? self->subject_count : 1, 2 * sizeof *order);
    if (!order)
        return pingyi_fail (err, "out of memory writing the tally");
    for (size_t pos = 0; pos < self->subject_count; pos++) {
        order[2 * pos] = v->subjects[pos];
        order[2 * pos + 1] = pos;
    }
    qsort (order, self->subject_count, 2 * sizeof *order, by_subject_index);

    fprintf (out, "{\"election\":\"%s\",\"venue\":", e->fingerprint_hex);
    pingyi_json_write_string (out, v->id);
    fprintf (out, ",\"ballots\":%llu,\"blank_ballots\":%llu,\"counters\":[",
             (unsigned long long) self->produced, (unsigned long long) self->blank_ballots);
    bool first = true;
    for (size_t k = 0; k < self->subject_count; k++) {
        size_t subject = order[2 * k], pos = order[2 * k + 1];
        for (size_t i = 0; i < self->item_count; i++) {
            const pingyi_choice_set_t *set = &e->choice_sets[e->items[i].choice_set];
            for (size_t c = 0; c < self->category_count; c++) {
                const uint64_t *counts =
                    &self->counts[((pos * self->item_count + i) * self->category_count + c) * self->slots];
                for (size_t slot = 0; slot < self->slots; slot++) {
                    const char *mark;
                    if (slot == self->slots - 2)
                        mark = "BLANK";
                    else if (slot == self->slots - 1)
                        mark = "OVER";
                    else if (slot < set->choice_count)
                        mark = set->choices[slot].label;
                    else
                        continue;
                    if (!counts[slot])
                        continue;
                    fputs (first ? "\n{\"subject\":" : ",\n{\"subject\":", out);
                    first = false;
                    pingyi_json_write_string (out, e->subjects[subject].id);
                    fputs (",\"item\":", out);
                    pingyi_json_write_string (out, e->items[i].id);
                    fputs (",\"category\":", out);
                    pingyi_json_write_string (out, e->categories[c].id);
                    fputs (",\"mark\":", out);
                    pingyi_json_write_string (out, mark);
                    fprintf (out, ",\"count\":%llu}", (unsigned long long) counts[slot]);
                }
            }
        }
    }
    fputs ("\n]}\n", out);
    free (order);
    if (ferror (out))
        return pingyi_fail (err, "writing the tally: %s", strerror (errno));
    return 0;
}

int
pingyi_generator_write_expect (const pingyi_election_t *election, size_t venue, uint64_t seed, uint64_t count,
                               const char *path, char *err)
{
    pingyi_generator_t *gen = pingyi_generator_new (election, venue, seed, count);
    if (!gen)
        return pingyi_fail (err, "cannot start the generator (out of memory?)");
    pingyi_ballot_t *ballot = malloc (sizeof *ballot);
    if (!ballot) {
        pingyi_generator_destroy (&gen);
        return pingyi_fail (err, "out of memory");
    }
    while (pingyi_generator_next (gen, ballot))
        ;
    free (ballot);

    char tmp[4096];
    if (snprintf (tmp, sizeof tmp, "%s.tmp.%d", path, (int) getpid ()) >= (int) sizeof tmp) {
        pingyi_generator_destroy (&gen);
        return pingyi_fail (err, "%s: path too long", path);
    }
    FILE *out = fopen (tmp, "w");
    if (!out) {
        int rc = pingyi_fail (err, "%s: cannot create: %s", tmp, strerror (errno));
        pingyi_generator_destroy (&gen);
        return rc;
    }
    char werr[PINGYI_ERR_MAX];
    int rc = pingyi_generator_write_tally (gen, out, werr);
    pingyi_generator_destroy (&gen);
    if (fflush (out) || fsync (fileno (out)))
        rc = pingyi_fail (werr, "%s", strerror (errno));
    if (fclose (out))
        rc = pingyi_fail (werr, "%s", strerror (errno));
    if (rc == 0 && rename (tmp, path))
        rc = pingyi_fail (werr, "cannot rename %s to %s: %s", tmp, path, strerror (errno));
    if (rc) {
        unlink (tmp);
        return pingyi_fail (err, "%s: %s", path, werr);
    }
    return 0;
}
