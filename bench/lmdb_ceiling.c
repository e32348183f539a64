/*  lmdb_ceiling.c — pingyi-lmdb-ceiling: how fast LMDB alone can take
    ballots the way a shard does, durably.  Ceiling (a) of docs/PERFORMANCE.md.

    Per ballot, as storage schema 3 does (docs/worker.md): a random 16-byte
    id behind a 2-byte venue put into the `ids` db with MDB_NOOVERWRITE |
    MDB_RESERVE, its row the status and reason bytes and then the envelope
    of --envelope-bytes (the envelopes live in their ids rows: no log keyed
    by a sequence); per batch: one write transaction of --batch ballots,
    the sequence and the 2048-byte digest state in a meta db, and a commit
    with LMDB's durable defaults (no MDB_NOSYNC, no WRITEMAP).  No crypto,
    no counters, no network: what is left when everything else is free.

    --writers threads each own their share of --shards environments and
    commit them in turn, as a worker process does with its shards; so with
    the same writers, shards and batch as a pipeline run the ceiling is the
    one that configuration lives under (parallel writers overlap their
    fsyncs).  The last line on stdout is one JSON object.  */
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define ID_KEY_LEN 18  /* venue u16 + ballot id: the shard's ids key */
#define ID_HEAD_LEN 2  /* status, reason; then the envelope: the shard's ids row */
#define STATE_LEN 2048 /* the digest state (meta.lthash) rewritten every commit */

typedef struct {
    MDB_env *env;
    MDB_dbi ids, meta;
    uint64_t sequence;
    uint8_t state[STATE_LEN];
} store_t;

typedef struct {
    size_t index;
    store_t *stores;
    size_t store_count;
    uint64_t ballots;
    size_t batch;
    size_t envelope_bytes;
    uint64_t done;
    uint64_t commits;
    double commit_s;
    double commit_max_s;
    char err[PINGYI_ERR_MAX];
    int rc;
} writer_t;

static double
now_s (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int
store_open (store_t *s, const char *dir, size_t map_mb, char *err)
{
    if (mkdir (dir, 0700) && errno != EEXIST)
        return pingyi_fail (err, "%s: %s", dir, strerror (errno));
    int rc = mdb_env_create (&s->env);
    if (!rc)
        rc = mdb_env_set_maxdbs (s->env, 8);
    if (!rc)
        rc = mdb_env_set_mapsize (s->env, map_mb << 20);
    if (!rc)
        rc = mdb_env_open (s->env, dir, 0, 0600); /* durable defaults, as the worker */
    MDB_txn *txn = NULL;
    if (!rc)
        rc = mdb_txn_begin (s->env, NULL, 0, &txn);
    if (!rc)
        rc = mdb_dbi_open (txn, "ids", MDB_CREATE, &s->ids);
    if (!rc)
        rc = mdb_dbi_open (txn, "meta", MDB_CREATE, &s->meta);
    if (!rc) {
        rc = mdb_txn_commit (txn);
        txn = NULL;
    }
    if (txn)
        mdb_txn_abort (txn);
    if (rc)
        return pingyi_fail (err, "%s: %s", dir, mdb_strerror (rc));
    return 0;
}

/*  One batch into one store, one durable commit.  */
static int
store_batch (writer_t *w, store_t *s, size_t n, const uint8_t *envelope)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin (s->env, NULL, 0, &txn);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        uint8_t key[ID_KEY_LEN];
        key[0] = 0;
        key[1] = (uint8_t) (i & 0x7f);
        randombytes_buf (key + 2, PINGYI_BALLOT_ID_LEN);
        MDB_val k = {sizeof key, key}, v = {ID_HEAD_LEN + w->envelope_bytes, NULL};
        rc = mdb_put (txn, s->ids, &k, &v, MDB_NOOVERWRITE | MDB_RESERVE);
        if (rc)
            break;
        uint8_t *row = v.mv_data;
        row[0] = row[1] = 0;
        memcpy (row + ID_HEAD_LEN, envelope, w->envelope_bytes);
        s->state[i % STATE_LEN]++; /* stands for the digest's update: the bytes change every commit */
    }
    if (!rc) {
        uint64_t seq = s->sequence + n;
        MDB_val mk = {8, "sequence"}, mv = {8, &seq};
        rc = mdb_put (txn, s->meta, &mk, &mv, 0);
    }
    if (!rc) {
        MDB_val mk = {6, "lthash"}, mv = {STATE_LEN, s->state};
        rc = mdb_put (txn, s->meta, &mk, &mv, 0);
    }
    if (rc) {
        mdb_txn_abort (txn);
        return rc;
    }
    double t0 = now_s ();
    rc = mdb_txn_commit (txn);
    double dt = now_s () - t0;
    if (rc)
        return rc;
    w->commit_s += dt;
    if (dt > w->commit_max_s)
        w->commit_max_s = dt;
    w->commits++;
    s->sequence += n;
    return 0;
}

static void *
writer_main (void *arg)
{
    writer_t *w = arg;
    uint8_t *envelope = malloc (w->envelope_bytes);
    if (!envelope) {
        w->rc = pingyi_fail (w->err, "out of memory");
        return NULL;
    }
    randombytes_buf (envelope, w->envelope_bytes); /* sealed envelopes look random */
    size_t next = 0;
    while (w->done < w->ballots) {
        size_t n = w->ballots - w->done < w->batch ? (size_t) (w->ballots - w->done) : w->batch;
        int rc = store_batch (w, &w->stores[next], n, envelope);
        if (rc) {
            w->rc = pingyi_fail (w->err, "writer %zu: %s", w->index, mdb_strerror (rc));
            break;
        }
        w->done += n;
        next = (next + 1) % w->store_count;
    }
    free (envelope);
    return NULL;
}

static void
usage (FILE *out)
{
    fprintf (out, "usage: pingyi-lmdb-ceiling --dir DIR --ballots N [--batch 1000] [--envelope-bytes 210]\n"
                  "                           [--writers 1] [--shards 1] [--map-size MB]\n"
                  "  --dir DIR           scratch directory (environments DIR/env-NN are created)\n"
                  "  --batch N           ballots per durable transaction (the worker's --batch)\n"
                  "  --writers N         writer threads (the pipeline's workers)\n"
                  "  --shards N          environments, shared out among the writers\n");
}

static unsigned long long
arg_num (const char *flag, const char *v, unsigned long long min, unsigned long long max)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull (v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || x < min || x > max) {
        fprintf (stderr, "pingyi-lmdb-ceiling: %s %s: expected %llu..%llu\n", flag, v, min, max);
        exit (2);
    }
    return x;
}

int
main (int argc, char **argv)
{
    const char *dir = NULL;
    uint64_t ballots = 0;
    size_t batch = 1000, envelope_bytes = 210, writers = 1, shards = 1, map_mb = 0;
    static const struct option longs[] = {
        {"dir", required_argument, NULL, 'd'},
        {"ballots", required_argument, NULL, 'n'},
        {"batch", required_argument, NULL, 'b'},
        {"envelope-bytes", required_argument, NULL, 'e'},
        {"writers", required_argument, NULL, 'w'},
        {"shards", required_argument, NULL, 's'},
        {"map-size", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long (argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'n':
            ballots = arg_num ("--ballots", optarg, 1, 1000000000);
            break;
        case 'b':
            batch = arg_num ("--batch", optarg, 1, 1000000);
            break;
        case 'e':
            envelope_bytes = arg_num ("--envelope-bytes", optarg, 16, 4600);
            break;
        case 'w':
            writers = arg_num ("--writers", optarg, 1, 64);
            break;
        case 's':
            shards = arg_num ("--shards", optarg, 1, 256);
            break;
        case 'm':
            map_mb = arg_num ("--map-size", optarg, 1, 1 << 22);
            break;
        case 'h':
            usage (stdout);
            return 0;
        default:
            usage (stderr);
            return 2;
        }
    }
    if (optind != argc || !dir || !ballots) {
        usage (stderr);
        return 2;
    }
    if (shards < writers)
        shards = writers;
    if (sodium_init () < 0)
        return 1;
    /* room for the ids rows with LMDB's page overhead, twice over:
       a ceiling must not pay for map growth the worker would not pay */
    if (!map_mb)
        map_mb = (size_t) (ballots * (envelope_bytes + 100) * 2 / shards >> 20) + 64;
    if (mkdir (dir, 0700) && errno != EEXIST) {
        fprintf (stderr, "pingyi-lmdb-ceiling: %s: %s\n", dir, strerror (errno));
        return 1;
    }
    char err[PINGYI_ERR_MAX];
    store_t *stores = calloc (shards, sizeof *stores);
    writer_t *ws = calloc (writers, sizeof *ws);
    pthread_t *threads = calloc (writers, sizeof *threads);
    if (!stores || !ws || !threads)
        return 1;
    for (size_t s = 0; s < shards; s++) {
        char path[1100];
        snprintf (path, sizeof path, "%s/env-%02zu", dir, s);
        if (store_open (&stores[s], path, map_mb, err)) {
            fprintf (stderr, "pingyi-lmdb-ceiling: %s\n", err);
            return 1;
        }
    }
    /* shards split evenly, in runs, as scripts/bench gives them to workers */
    size_t first = 0;
    for (size_t i = 0; i < writers; i++) {
        writer_t *w = &ws[i];
        size_t n = shards / writers + (i < shards % writers ? 1 : 0);
        *w = (writer_t){.index = i,
                        .stores = stores + first,
                        .store_count = n,
                        .batch = batch,
                        .envelope_bytes = envelope_bytes,
                        .ballots = ballots / writers + (i < ballots % writers ? 1 : 0)};
        first += n;
    }
    double t0 = now_s ();
    for (size_t i = 0; i < writers; i++)
        pthread_create (&threads[i], NULL, writer_main, &ws[i]);
    for (size_t i = 0; i < writers; i++)
        pthread_join (threads[i], NULL);
    double seconds = now_s () - t0;
    uint64_t done = 0, commits = 0;
    double commit_s = 0, commit_max = 0;
    int rc = 0;
    for (size_t i = 0; i < writers; i++) {
        if (ws[i].rc) {
            fprintf (stderr, "pingyi-lmdb-ceiling: %s\n", ws[i].err);
            rc = 1;
        }
        done += ws[i].done;
        commits += ws[i].commits;
        commit_s += ws[i].commit_s;
        if (ws[i].commit_max_s > commit_max)
            commit_max = ws[i].commit_max_s;
    }
    for (size_t s = 0; s < shards; s++)
        mdb_env_close (stores[s].env);
    printf ("{\"lmdb_ceiling_per_s\":%.0f,\"ballots\":%" PRIu64 ",\"seconds\":%.3f,\"batch\":%zu,"
            "\"envelope_bytes\":%zu,\"writers\":%zu,\"shards\":%zu,\"commits\":%" PRIu64
            ",\"commit_ms_avg\":%.2f,\"commit_ms_max\":%.2f}\n",
            seconds > 0 ? (double) done / seconds : 0.0, done, seconds, batch, envelope_bytes, writers,
            shards, commits, commits ? 1000.0 * commit_s / (double) commits : 0.0, 1000.0 * commit_max);
    free (stores);
    free (ws);
    free (threads);
    return rc;
}
