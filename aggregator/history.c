/*  history.c — the LMDB history store (see history.h).

    Invariants: keys are u64 big-endian round numbers, strictly increasing
    in write order; at most `keep` records after every committed write; the
    in-memory last body is the body of the newest stored record.  */
#define _GNU_SOURCE
#include "history.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct agg_history_t {
    int lock_fd; /* DIR/aggregator.lock, flock'ed */
    MDB_env *env;
    MDB_dbi dbi;
    size_t keep;
    uint64_t last_round;
    char *last_body; /* body of the newest record, or NULL */
};

static void
put_be64 (uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t) v;
        v >>= 8;
    }
}

static uint64_t
get_be64 (const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | in[i];
    return v;
}

/*  The body of a stored record: what follows `"time":T,`, without the
    closing brace; NULL when the value is not one of ours.  */
static char *
body_of (const char *value, size_t len)
{
    const char *end = value + len;
    const char *p = memmem (value, len, ",\"sequences\":", 13);
    if (!p || len < 2 || end[-1] != '}')
        return NULL;
    p++;
    size_t n = (size_t) (end - 1 - p);
    char *body = malloc (n + 1);
    if (!body)
        return NULL;
    memcpy (body, p, n);
    body[n] = 0;
    return body;
}

agg_history_t *
agg_history_open (const char *dir, size_t keep, char *err)
{
    if (mkdir (dir, 0700) && errno != EEXIST) {
        pingyi_fail (err, "%s: cannot create: %s", dir, strerror (errno));
        return NULL;
    }
    agg_history_t *self = calloc (1, sizeof *self);
    if (!self) {
        pingyi_fail (err, "out of memory");
        return NULL;
    }
    self->keep = keep ? keep : AGG_HISTORY_KEEP;
    /* one aggregator per data directory, before the environment opens */
    self->lock_fd = pingyi_lock_dir (dir, "aggregator.lock", "aggregator", err);
    if (self->lock_fd < 0)
        goto fail;
    MDB_txn *txn = NULL;
    int rc = mdb_env_create (&self->env);
    if (rc == 0)
        rc = mdb_env_set_mapsize (self->env, AGG_HISTORY_MAP);
    if (rc == 0)
        rc = mdb_env_set_maxdbs (self->env, 1);
    if (rc == 0)
        rc = mdb_env_open (self->env, dir, MDB_NOTLS, 0600);
    if (rc) {
        pingyi_fail (err, "%s: cannot open the history store: %s", dir, mdb_strerror (rc));
        goto fail;
    }
    int dead;
    mdb_reader_check (self->env, &dead);
    rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open (txn, "history", MDB_CREATE, &self->dbi);
    if (rc == 0) {
        MDB_cursor *cur;
        MDB_val k, v;
        rc = mdb_cursor_open (txn, self->dbi, &cur);
        if (rc == 0) {
            int got = mdb_cursor_get (cur, &k, &v, MDB_LAST);
            if (got == 0 && k.mv_size == 8) {
                self->last_round = get_be64 (k.mv_data);
                self->last_body = body_of (v.mv_data, v.mv_size);
            }
            else if (got != 0 && got != MDB_NOTFOUND)
                rc = got;
            mdb_cursor_close (cur);
        }
    }
    if (rc == 0)
        rc = mdb_txn_commit (txn);
    else
        mdb_txn_abort (txn);
    if (rc) {
        pingyi_fail (err, "%s: cannot read the history store: %s", dir, mdb_strerror (rc));
        goto fail;
    }
    return self;
fail:
    agg_history_close (&self);
    return NULL;
}

void
agg_history_close (agg_history_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    agg_history_t *self = *self_p;
    if (self->env)
        mdb_env_close (self->env);
    if (self->lock_fd >= 0)
        close (self->lock_fd); /* releases the flock, after the environment */
    free (self->last_body);
    free (self);
    *self_p = NULL;
}

uint64_t
agg_history_last_round (const agg_history_t *self)
{
    return self->last_round;
}

int
agg_history_record (agg_history_t *self, uint64_t round, int64_t wall, const char *body, char *err)
{
    if (self->last_body && strcmp (self->last_body, body) == 0)
        return 0;
    if (round <= self->last_round)
        return pingyi_fail (err, "round %llu is not after the last stored round %llu",
                            (unsigned long long) round, (unsigned long long) self->last_round);
    char head[96];
    int hn = snprintf (head, sizeof head, "{\"round\":%llu,\"time\":%lld,", (unsigned long long) round,
                       (long long) wall);
    size_t bn = strlen (body);
    char *copy = malloc (bn + 1);
    char *value = malloc ((size_t) hn + bn + 2);
    if (!copy || !value) {
        free (copy);
        free (value);
        return pingyi_fail (err, "out of memory");
    }
    memcpy (copy, body, bn + 1);
    memcpy (value, head, (size_t) hn);
    memcpy (value + hn, body, bn);
    value[hn + bn] = '}';
    value[hn + bn + 1] = 0;

    uint8_t key[8];
    put_be64 (key, round);
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k = {8, key}, v = {(size_t) hn + bn + 1, value};
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_put (txn, self->dbi, &k, &v, MDB_APPEND);
    /* keep the newest `keep`: delete from the oldest end */
    MDB_stat st;
    if (rc == 0)
        rc = mdb_stat (txn, self->dbi, &st);
    if (rc == 0 && st.ms_entries > self->keep) {
        size_t excess = st.ms_entries - self->keep;
        rc = mdb_cursor_open (txn, self->dbi, &cur);
        while (rc == 0 && excess-- > 0) {
            MDB_val ok, ov;
            rc = mdb_cursor_get (cur, &ok, &ov, MDB_FIRST);
            if (rc == 0)
                rc = mdb_cursor_del (cur, 0);
        }
        if (cur)
            mdb_cursor_close (cur);
    }
    if (rc == 0)
        rc = mdb_txn_commit (txn);
    else if (txn)
        mdb_txn_abort (txn);
    free (value);
    if (rc) {
        free (copy);
        return pingyi_fail (err, "history: cannot store round %llu: %s", (unsigned long long) round,
                            mdb_strerror (rc));
    }
    free (self->last_body);
    self->last_body = copy;
    self->last_round = round;
    return 1;
}

/*  A stored value fit to be served as it is: one JSON object of ours, with
    no control byte (the writer never stores one).  */
static bool
value_ok (const uint8_t *p, size_t len)
{
    if (len < 2 || p[0] != '{' || p[len - 1] != '}')
        return false;
    for (size_t i = 0; i < len; i++)
        if (p[i] < 0x20 || p[i] == 0x7f)
            return false;
    return true;
}

int
agg_history_dump (agg_history_t *self, size_t limit, FILE *out, size_t *count, size_t *skipped, char *err)
{
    *count = 0;
    *skipped = 0;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return pingyi_fail (err, "history: %s", mdb_strerror (rc));
    rc = mdb_cursor_open (txn, self->dbi, &cur);
    if (rc) {
        mdb_txn_abort (txn);
        return pingyi_fail (err, "history: %s", mdb_strerror (rc));
    }
    MDB_val k, v;
    int got = mdb_cursor_get (cur, &k, &v, MDB_LAST);
    while (got == 0 && *count < limit) {
        if (k.mv_size == 8 && value_ok (v.mv_data, v.mv_size)) {
            if (*count)
                fputc (',', out);
            fwrite (v.mv_data, 1, v.mv_size, out);
            (*count)++;
        }
        else
            (*skipped)++;
        got = mdb_cursor_get (cur, &k, &v, MDB_PREV);
    }
    mdb_cursor_close (cur);
    mdb_txn_abort (txn);
    if (got != 0 && got != MDB_NOTFOUND)
        return pingyi_fail (err, "history: %s", mdb_strerror (got));
    return 0;
}

size_t
agg_history_size (agg_history_t *self)
{
    MDB_txn *txn;
    MDB_stat st;
    if (mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn))
        return 0;
    size_t n = mdb_stat (txn, self->dbi, &st) == 0 ? st.ms_entries : 0;
    mdb_txn_abort (txn);
    return n;
}
