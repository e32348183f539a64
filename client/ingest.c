/*  ingest.c — a venue's ballots into its outbox (ingest.h).

    Invariants:
    - A ballot's plaintext lives only in self->ballot and self->body (and,
      file input, in the window's locked memory) and is wiped as soon as it
      is encoded, sealed or found bad.
    - Nothing is queued to send before the transaction that holds it is
      committed, and the records of a window or chunk (good and bad) are
      counted as taken in that same transaction: a restart skips exactly
      input_consumed records, never seals a ballot twice, never loses one.
    - The first input_consumed records are checked against the outbox's
      digest when the last of them passes: another input is refused, not
      skipped.  */
#define _GNU_SOURCE
#include "ingest.h"

#include "envelope.h"
#include "mix.h"
#include "msg.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_SIZE 65536

struct pingyi_ingest_t {
    const pingyi_election_t *election;
    size_t venue;
    const char *venue_id;
    uint8_t key[32];
    pingyi_outbox_t *outbox;
    const char *outbox_dir;
    const char *input_name;
    uint64_t shuffle_window;
    pingyi_ingest_hooks_t hooks;
    char *err; /* the caller's, during a call */

    /*  The source.  */
    pingyi_input_t *input;
    int input_fd;
    bool input_eof;
    pingyi_generator_t *gen;
    bool source_done;
    bool source_ready; /* records may be had without waiting for the input fd */
    uint64_t skip;     /* records the outbox had taken when we started */
    uint64_t seen;     /* records taken from the source this run */
    uint8_t read_buf[READ_SIZE];

    /*  The chunk being sealed (live input).  */
    pingyi_outbox_item_t items[PINGYI_INGEST_CHUNK];
    uint8_t *envelopes; /* PINGYI_INGEST_CHUNK x PINGYI_ENVELOPE_MAX */
    size_t item_count;
    uint64_t chunk_records;
    uint64_t chunk_bad;
    pingyi_ballot_t ballot;
    uint8_t body[PINGYI_BODY_MAX];

    /*  The mix (client/mix.h): live input through the outbox's pool, file
        input through shuffled windows (the window's records are counted in
        chunk_records and chunk_bad until it is sealed).  */
    bool mix_ready;
    bool live;
    uint32_t k;
    pingyi_window_t *window;
    size_t window_cap; /* records per window */
};

static int fail (pingyi_ingest_t *self, const char *fmt, ...) PINGYI_PRINTF (2, 3);

static int
fail (pingyi_ingest_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (self->err, PINGYI_INGEST_ERR_MAX, fmt, ap);
    va_end (ap);
    return -1;
}

static void info (pingyi_ingest_t *self, const char *fmt, ...) PINGYI_PRINTF (2, 3);

static void
info (pingyi_ingest_t *self, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (line, sizeof line, fmt, ap);
    va_end (ap);
    if (self->hooks.info)
        self->hooks.info (self->hooks.arg, line);
}

/*  A bad record: said unless an earlier run took (and reported) it.  */
static void
bad_line (pingyi_ingest_t *self, const char *line)
{
    if (self->seen < self->skip)
        return;
    if (self->hooks.bad_line)
        self->hooks.bad_line (self->hooks.arg, line);
}

static void
on_input_error (const char *line, void *arg)
{
    bad_line (arg, line);
}

static void
committed (pingyi_ingest_t *self)
{
    if (self->hooks.committed)
        self->hooks.committed (self->hooks.arg);
}

static int
queue_id (pingyi_ingest_t *self, const uint8_t *id)
{
    return self->hooks.queue (self->hooks.arg, id);
}

pingyi_ingest_t *
pingyi_ingest_new (const pingyi_ingest_config_t *config)
{
    pingyi_ingest_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->envelopes = calloc (PINGYI_INGEST_CHUNK, PINGYI_ENVELOPE_MAX);
    if (!self->envelopes) {
        free (self);
        return NULL;
    }
    self->election = config->election;
    self->venue = config->venue;
    self->venue_id = config->election->venues[config->venue].id;
    memcpy (self->key, config->key, sizeof self->key);
    self->outbox = config->outbox;
    self->outbox_dir = config->outbox_dir;
    self->input_name = config->input_name;
    self->shuffle_window = config->shuffle_window;
    self->hooks = config->hooks;
    self->input = config->input;
    self->input_fd = config->input_fd;
    self->gen = config->gen;
    self->source_ready = true;
    pingyi_outbox_stats_t st;
    pingyi_outbox_stats (self->outbox, &st);
    self->skip = st.input_consumed;
    if (self->input)
        pingyi_input_set_error_fn (self->input, on_input_error, self);
    return self;
}

void
pingyi_ingest_destroy (pingyi_ingest_t **self_p)
{
    pingyi_ingest_t *self = *self_p;
    if (!self)
        return;
    sodium_memzero (self->envelopes, PINGYI_INGEST_CHUNK * PINGYI_ENVELOPE_MAX);
    free (self->envelopes);
    pingyi_window_destroy (&self->window);
    sodium_memzero (self->key, sizeof self->key);
    sodium_memzero (&self->ballot, sizeof self->ballot);
    sodium_memzero (self->body, sizeof self->body);
    sodium_memzero (self->read_buf, sizeof self->read_buf);
    free (self);
    *self_p = NULL;
}

static void
source_digest (pingyi_ingest_t *self, uint8_t digest[PINGYI_OUTBOX_DIGEST_LEN])
{
    if (self->gen)
        pingyi_generator_digest (self->gen, digest);
    else
        pingyi_input_digest (self->input, digest);
}

static int release_pool (pingyi_ingest_t *self, const char *why);

/*  The mix (client/mix.h), set up on the first turn: live input (anything
    but a regular file: a pipe, a FIFO, a terminal, a scanner's device) goes
    through the outbox's pool; a regular file or the generator through
    shuffled windows.  */
static int
mix_setup (pingyi_ingest_t *self)
{
    self->mix_ready = true;
    self->k = self->election->k_anonymity ? self->election->k_anonymity : 1;
    struct stat st;
    self->live = !self->gen && !(fstat (self->input_fd, &st) == 0 && S_ISREG (st.st_mode));
    /*  A run that stopped between a commit to the pool and the pool's
        release left k or more in it: the rule holds from the start.  */
    pingyi_outbox_stats_t ob;
    pingyi_outbox_stats (self->outbox, &ob);
    if (pingyi_pool_due (ob.pooled, self->k) && release_pool (self, NULL))
        return -1;
    if (self->live)
        return 0;
    /*  Every body of the venue has one length (election/ballot.c), so what
        a ballot costs in a window is known before the first is read: its
        body, its envelope, its item.  */
    pingyi_ballot_init (&self->ballot, self->election, self->venue);
    size_t body = pingyi_ballot_encode (&self->ballot, self->election, self->body, sizeof self->body);
    sodium_memzero (self->body, sizeof self->body);
    size_t per_ballot = 2 * body + PINGYI_ENVELOPE_OVERHEAD (strlen (self->venue_id)) +
                        sizeof (pingyi_outbox_item_t) + 32 /* entry, queue */;
    uint64_t least = (uint64_t) self->k * PINGYI_WINDOW_PER_K;
    if (self->shuffle_window && self->shuffle_window < least)
        return fail (self,
                     "--shuffle-window %" PRIu64 ": a window holds at least k x %d = %" PRIu64
                     " ballots (k_anonymity %" PRIu32 " in the definition)",
                     self->shuffle_window, PINGYI_WINDOW_PER_K, least, self->k);
    self->window_cap = pingyi_window_size (self->k, per_ballot, self->shuffle_window);
    self->window = pingyi_window_new ();
    if (!self->window)
        return fail (self, "out of memory");
    return 0;
}

/*  Let the whole pool go: its ballots join the send queue in a uniformly
    random order.  why, when given, is said (an explicit flush, the end of
    the input), with how many left: never which.  */
static int
release_pool (pingyi_ingest_t *self, const char *why)
{
    pingyi_outbox_stats_t st;
    pingyi_outbox_stats (self->outbox, &st);
    if (!st.pooled)
        return 0;
    uint8_t *ids;
    size_t n;
    char err[PINGYI_ERR_MAX];
    if (pingyi_pool_release (self->outbox, &ids, &n, err))
        return fail (self, "%s", err);
    for (size_t i = 0; i < n; i++)
        if (queue_id (self, ids + i * PINGYI_BALLOT_ID_LEN)) {
            free (ids);
            return fail (self, "out of memory queueing ballots");
        }
    free (ids);
    if (why)
        info (self, "%s: the %zu ballots in the mixing pool leave in random order (k = %" PRIu32 ")", why, n,
              self->k);
    return 0;
}

/*  Live input: commit the chunk's sealed ballots into the pool (one durable
    transaction), then let the pool go if it holds k or more.  */
static int
commit_chunk (pingyi_ingest_t *self)
{
    if (!self->chunk_records)
        return 0;
    uint8_t digest[PINGYI_OUTBOX_DIGEST_LEN];
    source_digest (self, digest);
    char err[PINGYI_ERR_MAX];
    if (pingyi_outbox_ingest (self->outbox, self->items, self->item_count, self->chunk_records,
                              self->chunk_bad, digest, true, err))
        return fail (self, "%s", err);
    sodium_memzero (self->envelopes, self->item_count * PINGYI_ENVELOPE_MAX);
    self->item_count = 0;
    self->chunk_records = 0;
    self->chunk_bad = 0;
    pingyi_outbox_stats_t st;
    pingyi_outbox_stats (self->outbox, &st);
    if (pingyi_pool_due (st.pooled, self->k) && release_pool (self, NULL))
        return -1;
    committed (self);
    return 0;
}

/*  File input: shuffle the window's bodies, seal them in that order, take
    them with the window's records (good and bad) into the outbox in ONE
    durable transaction -- so a restart skips exactly the records taken and
    seals none twice -- and queue them in the same order.  */
static int
seal_window (pingyi_ingest_t *self)
{
    if (!self->chunk_records)
        return 0;
    size_t n = pingyi_window_count (self->window);
    size_t venue_len = strlen (self->venue_id);
    size_t total = pingyi_window_bytes (self->window) + n * (size_t) PINGYI_ENVELOPE_OVERHEAD (venue_len);
    pingyi_window_shuffle (self->window);
    pingyi_outbox_item_t *items = calloc (n ? n : 1, sizeof *items);
    uint8_t *envs = malloc (total ? total : 1);
    if (!items || !envs) {
        free (items);
        free (envs);
        return fail (self, "out of memory sealing %zu ballots", n);
    }
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const uint8_t *body = pingyi_window_body (self->window, i, &len);
        randombytes_buf (items[i].id, PINGYI_BALLOT_ID_LEN);
        size_t sealed = pingyi_envelope_seal (envs + used, total - used, self->election->fingerprint,
                                              self->venue_id, venue_len, items[i].id, body, len, self->key);
        pingyi_window_wipe (self->window, i);
        if (!sealed) {
            sodium_memzero (envs, used);
            free (envs);
            free (items);
            return fail (self, "cannot seal a ballot (body %zu bytes): a bug", len);
        }
        items[i].envelope = envs + used;
        items[i].len = sealed;
        used += sealed;
    }
    uint8_t digest[PINGYI_OUTBOX_DIGEST_LEN];
    source_digest (self, digest);
    char err[PINGYI_ERR_MAX];
    int rc = pingyi_outbox_ingest (self->outbox, items, n, self->chunk_records, self->chunk_bad, digest,
                                   false, err);
    bool oom = false;
    for (size_t i = 0; i < n && !rc && !oom; i++)
        oom = queue_id (self, items[i].id) != 0;
    sodium_memzero (envs, used);
    free (envs);
    free (items);
    pingyi_window_clear (self->window);
    self->chunk_records = 0;
    self->chunk_bad = 0;
    if (rc)
        return fail (self, "%s", err);
    if (oom)
        return fail (self, "out of memory queueing ballots");
    committed (self);
    return 0;
}

/*  Encode the ballot just read into self->body and wipe the ballot.  Returns
    the body's length, or 0 when it cannot be encoded (counted as a bad
    record: the definition check guarantees every form fits a body, so
    this is a bug, and costs one record rather than the venue).  */
static size_t
encode_ballot (pingyi_ingest_t *self)
{
    size_t body_len = pingyi_ballot_encode (&self->ballot, self->election, self->body, sizeof self->body);
    sodium_memzero (&self->ballot, sizeof self->ballot);
    if (!body_len) {
        self->chunk_bad++;
        char line[PINGYI_ERR_MAX];
        snprintf (line, sizeof line, "%s:%" PRIu64 ":1: ballot too large to encode",
                  self->input_name ? self->input_name : "drill",
                  self->input ? pingyi_input_line (self->input) : self->seen);
        bad_line (self, line);
    }
    return body_len;
}

/*  Live input: seal the ballot into the chunk at once (the plaintext is
    wiped before anything else happens).  */
static int
seal_ballot (pingyi_ingest_t *self)
{
    size_t body_len = encode_ballot (self);
    if (!body_len)
        return 0;
    pingyi_outbox_item_t *item = &self->items[self->item_count];
    uint8_t *env = self->envelopes + self->item_count * PINGYI_ENVELOPE_MAX;
    randombytes_buf (item->id, PINGYI_BALLOT_ID_LEN);
    size_t len = pingyi_envelope_seal (env, PINGYI_ENVELOPE_MAX, self->election->fingerprint, self->venue_id,
                                       strlen (self->venue_id), item->id, self->body, body_len, self->key);
    sodium_memzero (self->body, body_len);
    if (!len)
        return fail (self, "cannot seal a ballot (body %zu bytes): a bug", body_len);
    item->envelope = env;
    item->len = len;
    self->item_count++;
    return 0;
}

/*  File input: keep the body in the window (locked memory) until the window
    is shuffled and sealed.  */
static int
window_ballot (pingyi_ingest_t *self)
{
    size_t body_len = encode_ballot (self);
    if (!body_len)
        return 0;
    int rc = pingyi_window_add (self->window, self->body, body_len);
    sodium_memzero (self->body, body_len);
    if (rc)
        return fail (self, "out of memory holding a window of %zu ballots (try a smaller --shuffle-window)",
                     pingyi_window_count (self->window));
    return 0;
}

static bool
fd_readable_now (int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll (&p, 1, 0) > 0;
}

/*  Take records from the source: skip those an earlier run already took
    (checking, when the last of them passes, that the input is the same),
    then, live: seal each into the chunk and commit it to the pool when the
    chunk is full, when the input has nothing more right now, or at its end;
    file: hold each body in the window and seal the window when it is full
    or at the end.  At the end the pool goes, whatever it holds.  At most
    PINGYI_INGEST_CHUNK records a call, so the socket is served in between.  */
static int
source_step (pingyi_ingest_t *self)
{
    if (!self->mix_ready && mix_setup (self))
        return -1;
    size_t skipped = 0, taken = 0;
    char err[PINGYI_ERR_MAX];
    while (!self->source_done) {
        pingyi_input_result_t r;
        if (self->gen)
            r = pingyi_generator_next (self->gen, &self->ballot) ? PINGYI_INPUT_BALLOT : PINGYI_INPUT_END;
        else
            r = pingyi_input_next (self->input, &self->ballot, err);
        if (r == PINGYI_INPUT_FATAL)
            return fail (self, "%s", err);
        if (r == PINGYI_INPUT_MORE) {
            if (!fd_readable_now (self->input_fd)) {
                self->source_ready = false; /* wait for the poll to say there is more */
                break;
            }
            ssize_t n = read (self->input_fd, self->read_buf, sizeof self->read_buf);
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                break;
            if (n < 0)
                return fail (self, "%s: %s", self->input_name, strerror (errno));
            if (n == 0) {
                self->input_eof = true;
                pingyi_input_finish (self->input);
            }
            else {
                int fed = pingyi_input_feed (self->input, self->read_buf, (size_t) n);
                sodium_memzero (self->read_buf, (size_t) n);
                if (fed)
                    return fail (self, "out of memory reading %s", self->input_name);
            }
            continue;
        }
        if (r == PINGYI_INPUT_END) {
            if (self->seen < self->skip)
                return fail (self,
                             "the input ended after %" PRIu64
                             " records, but outbox %s has already taken %" PRIu64
                             " from it: this is not the input it was started with",
                             self->seen, self->outbox_dir, self->skip);
            if (self->live ? commit_chunk (self) : seal_window (self))
                return -1;
            if (release_pool (self, "end of input"))
                return -1;
            self->source_done = true;
            break;
        }
        self->seen++;
        if (self->seen <= self->skip) {
            sodium_memzero (&self->ballot, sizeof self->ballot);
            if (self->seen == self->skip) {
                pingyi_outbox_stats_t st;
                pingyi_outbox_stats (self->outbox, &st);
                uint8_t digest[PINGYI_OUTBOX_DIGEST_LEN];
                source_digest (self, digest);
                if (st.has_digest && memcmp (digest, st.input_digest, sizeof digest))
                    return fail (self,
                                 "the first %" PRIu64
                                 " records of this input differ from those outbox %s took "
                                 "(a different file, seed or definition?): refusing to skip them; use the "
                                 "original input, or a fresh --outbox for a new one",
                                 self->skip, self->outbox_dir);
                info (self, "skipped the %" PRIu64 " input records the outbox took in an earlier run",
                      self->skip);
            }
            if (++skipped >= PINGYI_INGEST_SKIP_BUDGET)
                return 0;
            continue;
        }
        self->chunk_records++;
        if (r == PINGYI_INPUT_BAD) {
            self->chunk_bad++;
            sodium_memzero (&self->ballot, sizeof self->ballot); /* what the line had before it failed */
        }
        else if (self->live ? seal_ballot (self) : window_ballot (self))
            return -1;
        if (self->live && self->chunk_records >= PINGYI_INGEST_CHUNK)
            return commit_chunk (self);
        if (!self->live && self->chunk_records >= self->window_cap)
            return seal_window (self);
        if (!self->live && ++taken >= PINGYI_INGEST_CHUNK)
            return 0; /* the socket's turn; the window fills on the next */
    }
    return self->live ? commit_chunk (self) : 0;
}

/*  SIGUSR1: let the pool go now, whatever it holds (live input: the group
    may be smaller than k; the operator asked).  */
static int
flush_pool (pingyi_ingest_t *self)
{
    if (self->mix_ready && self->live && commit_chunk (self))
        return -1;
    pingyi_outbox_stats_t st;
    pingyi_outbox_stats (self->outbox, &st);
    if (!st.pooled)
        info (self, "flush requested (SIGUSR1): the mixing pool is empty");
    return release_pool (self, "flush requested (SIGUSR1)");
}

int
pingyi_ingest_step (pingyi_ingest_t *self, char err[PINGYI_INGEST_ERR_MAX])
{
    self->err = err;
    return source_step (self);
}

int
pingyi_ingest_flush (pingyi_ingest_t *self, char err[PINGYI_INGEST_ERR_MAX])
{
    self->err = err;
    return flush_pool (self);
}

bool
pingyi_ingest_done (const pingyi_ingest_t *self)
{
    return self->source_done;
}

bool
pingyi_ingest_ready (const pingyi_ingest_t *self)
{
    return self->source_ready;
}

void
pingyi_ingest_set_ready (pingyi_ingest_t *self)
{
    self->source_ready = true;
}

bool
pingyi_ingest_live (const pingyi_ingest_t *self)
{
    return self->live;
}
