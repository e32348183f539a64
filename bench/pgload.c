/*  pgload.c — pingyi-pgload: the PostgreSQL peer of a benchmark run.

    The same ballots the load generator seals (the drill generator with the
    same election, venues, counts and seed: ballot k of a venue is the same
    ballot), loaded the way one would load them into PostgreSQL, then
    tallied with a GROUP BY into the very counters a shard keeps.

    Schema (one row per ballot holding its marks, as a shard holds one log
    entry per ballot; the id is unique, as a shard's `ids` key):
        ballots (id bytea PRIMARY KEY, venue int, category smallint,
                 marks smallint[])      -- one mark per cell, form order
        forms   (venue int, pos int, subject int, item int,
                 PRIMARY KEY (venue, pos)) -- which cell is which
    Load: multi-row INSERT ... ON CONFLICT (id) DO NOTHING of --rows rows per
    statement, each its own transaction, synchronous_commit on (the
    server's durable defaults), over --conns connections in parallel.  The
    SQL text is built before the clock starts; only the round trips count.
    Tally: per (venue, subject, item, category, mark) count(*) over the
    unnested marks, timed from the query to its last row.

    The last line on stdout is one JSON object:
        {"postgres_ballots_per_s":..., "postgres_tally_s":..., ...}  */
#define _GNU_SOURCE
#include "ballot.h"
#include "generate.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char *sql;
    size_t len;
} statement_t;

typedef struct {
    const char *conninfo;
    statement_t *statements;
    size_t count;
    size_t *next; /* shared cursor */
    pthread_mutex_t *lock;
    uint64_t inserted;
    char err[512];
    int rc;
} loader_t;

static double
now_s (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/*  A growable text buffer for SQL.  */
typedef struct {
    char *p;
    size_t len, cap;
} text_t;

static int text_add (text_t *t, const char *fmt, ...) PINGYI_PRINTF (2, 3);

static int
text_add (text_t *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start (ap, fmt);
        int n = vsnprintf (t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end (ap);
        if (n < 0)
            return -1;
        if (t->p && t->len + (size_t) n < t->cap) {
            t->len += (size_t) n;
            return 0;
        }
        size_t cap = t->cap ? t->cap * 2 : 1 << 16;
        while (cap < t->len + (size_t) n + 1)
            cap *= 2;
        char *grown = realloc (t->p, cap);
        if (!grown)
            return -1;
        t->p = grown;
        t->cap = cap;
    }
}

static int
exec_ok (PGconn *conn, const char *sql, char *err, size_t cap)
{
    PGresult *r = PQexec (conn, sql);
    ExecStatusType st = PQresultStatus (r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        snprintf (err, cap, "%s", PQresultErrorMessage (r));
        rc = -1;
    }
    PQclear (r);
    return rc;
}

static void *
loader_main (void *arg)
{
    loader_t *l = arg;
    PGconn *conn = PQconnectdb (l->conninfo);
    if (PQstatus (conn) != CONNECTION_OK) {
        snprintf (l->err, sizeof l->err, "%s", PQerrorMessage (conn));
        l->rc = -1;
        PQfinish (conn);
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock (l->lock);
        size_t i = (*l->next)++;
        pthread_mutex_unlock (l->lock);
        if (i >= l->count)
            break;
        PGresult *r = PQexec (conn, l->statements[i].sql);
        if (PQresultStatus (r) != PGRES_COMMAND_OK) {
            snprintf (l->err, sizeof l->err, "%s", PQresultErrorMessage (r));
            l->rc = -1;
            PQclear (r);
            break;
        }
        l->inserted += strtoull (PQcmdTuples (r), NULL, 10);
        PQclear (r);
    }
    PQfinish (conn);
    return NULL;
}

static void
usage (FILE *out)
{
    fprintf (out, "usage: pingyi-pgload --conninfo STR --election FILE --ballots N [--venues N] [--seed 1]\n"
                  "                     [--rows 1000] [--conns 2] [--no-tally]\n"
                  "  the same ballots as pingyi-loadgen with the same --ballots, --venues and --seed\n");
}

static unsigned long long
arg_num (const char *flag, const char *v, unsigned long long min, unsigned long long max)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull (v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || x < min || x > max) {
        fprintf (stderr, "pingyi-pgload: %s %s: expected %llu..%llu\n", flag, v, min, max);
        exit (2);
    }
    return x;
}

int
main (int argc, char **argv)
{
    const char *conninfo = NULL, *election_path = NULL;
    uint64_t ballots = 0, seed = 1;
    size_t venues = 0, rows = 1000, conns = 2;
    bool tally = true;
    static const struct option longs[] = {
        {"conninfo", required_argument, NULL, 'c'}, {"election", required_argument, NULL, 'e'},
        {"ballots", required_argument, NULL, 'n'},  {"venues", required_argument, NULL, 'v'},
        {"seed", required_argument, NULL, 's'},     {"rows", required_argument, NULL, 'r'},
        {"conns", required_argument, NULL, 'C'},    {"no-tally", no_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long (argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'c':
            conninfo = optarg;
            break;
        case 'e':
            election_path = optarg;
            break;
        case 'n':
            ballots = arg_num ("--ballots", optarg, 1, 1000000000);
            break;
        case 'v':
            venues = arg_num ("--venues", optarg, 1, PINGYI_MAX_VENUES);
            break;
        case 's':
            seed = arg_num ("--seed", optarg, 0, UINT64_MAX);
            break;
        case 'r':
            rows = arg_num ("--rows", optarg, 1, 10000);
            break;
        case 'C':
            conns = arg_num ("--conns", optarg, 1, 64);
            break;
        case 'T':
            tally = false;
            break;
        case 'h':
            usage (stdout);
            return 0;
        default:
            usage (stderr);
            return 2;
        }
    }
    if (optind != argc || !conninfo || !election_path || !ballots) {
        usage (stderr);
        return 2;
    }
    if (sodium_init () < 0)
        return 1;
    char err[512];
    pingyi_election_t *e = pingyi_election_load_or_err (election_path, err);
    if (!e) {
        fprintf (stderr, "pingyi-pgload: %s\n", err);
        return 2;
    }
    if (!venues)
        venues = e->venue_count;
    if (venues > e->venue_count) {
        fprintf (stderr, "pingyi-pgload: --venues %zu: the election has %zu\n", venues, e->venue_count);
        return 2;
    }
    for (size_t i = 0; i < e->item_count; i++)
        if (e->items[i].max_choices != 1) {
            fprintf (stderr, "pingyi-pgload: item %s takes several choices: one mark per cell expected\n",
                     e->items[i].id);
            return 2;
        }

    PGconn *conn = PQconnectdb (conninfo);
    if (PQstatus (conn) != CONNECTION_OK) {
        fprintf (stderr, "pingyi-pgload: %s", PQerrorMessage (conn));
        return 1;
    }
    if (exec_ok (conn,
                 "DROP TABLE IF EXISTS ballots; DROP TABLE IF EXISTS forms;"
                 "CREATE TABLE ballots (id bytea PRIMARY KEY, venue int NOT NULL, category smallint NOT NULL,"
                 " marks smallint[] NOT NULL);"
                 "CREATE TABLE forms (venue int, pos int, subject int, item int, PRIMARY KEY (venue, pos));",
                 err, sizeof err)) {
        fprintf (stderr, "pingyi-pgload: schema: %s", err);
        return 1;
    }
    /* the forms: position k of venue v's marks is (subject, item) */
    text_t t = {0};
    text_add (&t, "INSERT INTO forms VALUES ");
    bool first = true;
    for (size_t v = 0; v < venues; v++)
        for (size_t s = 0; s < e->venues[v].subject_count; s++)
            for (size_t i = 0; i < e->item_count; i++) {
                text_add (&t, "%s(%zu,%zu,%zu,%zu)", first ? "" : ",", v, s * e->item_count + i + 1,
                          e->venues[v].subjects[s], i);
                first = false;
            }
    if (exec_ok (conn, t.p, err, sizeof err)) {
        fprintf (stderr, "pingyi-pgload: forms: %s", err);
        return 1;
    }
    free (t.p);

    /* every statement built before the clock: generation is not the load */
    double g0 = now_s ();
    size_t nstat = (size_t) ((ballots + rows - 1) / rows);
    statement_t *st = calloc (nstat, sizeof *st);
    size_t si = 0, in_stat = 0;
    text_t cur = {0};
    pingyi_ballot_t ballot;
    for (size_t v = 0; v < venues; v++) {
        uint64_t count = ballots / venues + (v < ballots % venues ? 1 : 0);
        pingyi_generator_t *gen = pingyi_generator_new (e, v, seed, count);
        if (!gen) {
            fprintf (stderr, "pingyi-pgload: out of memory\n");
            return 1;
        }
        while (pingyi_generator_next (gen, &ballot)) {
            if (in_stat == 0)
                text_add (&cur, "INSERT INTO ballots (id, venue, category, marks) VALUES ");
            uint8_t id[PINGYI_BALLOT_ID_LEN];
            char hex[2 * PINGYI_BALLOT_ID_LEN + 1];
            randombytes_buf (id, sizeof id);
            pingyi_hex (hex, id, sizeof id);
            text_add (&cur, "%s('\\x%s',%zu,%u,'{", in_stat ? "," : "", hex, v, ballot.category);
            for (uint32_t s = 0; s < ballot.subject_count; s++)
                for (size_t i = 0; i < e->item_count; i++) {
                    uint8_t marks[PINGYI_MAX_CHOICES];
                    pingyi_cell_marks (&e->items[i], ballot.ticks[s][i], marks);
                    text_add (&cur, "%s%u", s || i ? "," : "", marks[0]);
                }
            text_add (&cur, "}')");
            if (++in_stat == rows) {
                text_add (&cur, " ON CONFLICT (id) DO NOTHING");
                st[si++] = (statement_t){cur.p, cur.len};
                cur = (text_t){0};
                in_stat = 0;
            }
        }
        pingyi_generator_destroy (&gen);
    }
    if (in_stat) {
        text_add (&cur, " ON CONFLICT (id) DO NOTHING");
        st[si++] = (statement_t){cur.p, cur.len};
    }
    nstat = si;
    double gen_s = now_s () - g0;
    size_t sql_bytes = 0;
    for (size_t i = 0; i < nstat; i++)
        sql_bytes += st[i].len;
    fprintf (stderr,
             "pingyi-pgload: %" PRIu64 " ballots as %zu statements (%.1f MB of SQL) built in %.2f s\n",
             ballots, nstat, (double) sql_bytes / 1e6, gen_s);

    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    size_t next = 0;
    loader_t *ls = calloc (conns, sizeof *ls);
    pthread_t *th = calloc (conns, sizeof *th);
    double t0 = now_s ();
    for (size_t i = 0; i < conns; i++) {
        ls[i] =
            (loader_t){.conninfo = conninfo, .statements = st, .count = nstat, .next = &next, .lock = &lock};
        pthread_create (&th[i], NULL, loader_main, &ls[i]);
    }
    uint64_t inserted = 0;
    int rc = 0;
    for (size_t i = 0; i < conns; i++) {
        pthread_join (th[i], NULL);
        inserted += ls[i].inserted;
        if (ls[i].rc) {
            fprintf (stderr, "pingyi-pgload: load: %s", ls[i].err);
            rc = 1;
        }
    }
    double load_s = now_s () - t0;
    for (size_t i = 0; i < nstat; i++)
        free (st[i].sql);
    free (st);

    double tally_s = 0;
    uint64_t groups = 0, cells = 0;
    if (tally && rc == 0) {
        /* a fresh plan over settled data, as an operator would query it */
        exec_ok (conn, "VACUUM ANALYZE ballots", err, sizeof err);
        double q0 = now_s ();
        PGresult *r = PQexec (conn, "SELECT b.venue, f.subject, f.item, b.category, u.mark, count(*)"
                                    " FROM ballots b CROSS JOIN LATERAL unnest (b.marks) WITH ORDINALITY"
                                    " AS u(mark, pos)"
                                    " JOIN forms f ON f.venue = b.venue AND f.pos = u.pos"
                                    " GROUP BY 1, 2, 3, 4, 5");
        tally_s = now_s () - q0;
        if (PQresultStatus (r) != PGRES_TUPLES_OK) {
            fprintf (stderr, "pingyi-pgload: tally: %s", PQresultErrorMessage (r));
            rc = 1;
        }
        else {
            groups = (uint64_t) PQntuples (r);
            for (uint64_t i = 0; i < groups; i++)
                cells += strtoull (PQgetvalue (r, (int) i, 5), NULL, 10);
        }
        PQclear (r);
    }
    PQfinish (conn);
    pingyi_election_destroy (&e);
    printf ("{\"postgres_ballots_per_s\":%.0f,\"postgres_load_s\":%.3f,\"postgres_tally_s\":%.3f,"
            "\"postgres_inserted\":%" PRIu64 ",\"postgres_groups\":%" PRIu64 ",\"postgres_cells\":%" PRIu64
            ",\"postgres_rows_per_statement\":%zu,\"postgres_conns\":%zu,\"postgres_sql_build_s\":%.3f}\n",
            load_s > 0 ? (double) inserted / load_s : 0.0, load_s, tally_s, inserted, groups, cells, rows,
            conns, gen_s);
    return rc;
}
