/*  history.c — the LMDB history store (see history.h).

    Invariants: keys are u64 big-endian round numbers, strictly increasing
    in write order; at most `keep` records after every committed write; the
    in-memory last body is the body of the newest stored record.  */
#define _GNU_SOURCE
#include "history.h"

#include "bytes.h"
#include "lmdb_env.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct agg_history_t {
    int lock_fd;      /* DIR/aggregator.lock, flock'ed */
    pingyi_lmdb_t db; /* the environment; named by its directory in error texts */
    MDB_dbi dbi;
    size_t keep;
    uint64_t last_round;
    char *last_body; /* body of the newest record, or NULL */
};

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

/*  Open the db and read the newest record (a write transaction: the db is
    created when new).  */
static int
open_step (MDB_txn *txn, void *arg, char *err)
{
    agg_history_t *self = arg;
    int rc = mdb_dbi_open (txn, "history", MDB_CREATE, &self->dbi);
    if (rc)
        return rc;
    MDB_cursor *cur;
    MDB_val k, v;
    rc = mdb_cursor_open (txn, self->dbi, &cur);
    if (rc)
        return rc;
    int got = mdb_cursor_get (cur, &k, &v, MDB_LAST);
    if (got == 0 && k.mv_size == 8) {
        self->last_round = pingyi_get_be64 (k.mv_data);
        free (self->last_body);
        self->last_body = body_of (v.mv_data, v.mv_size);
    }
    else if (got != 0 && got != MDB_NOTFOUND)
        rc = got;
    mdb_cursor_close (cur);
    return rc;
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
    /* the map is fixed (AGG_HISTORY_MAP, never grown): a full map fails the
       write, and the oldest records make room only as `keep` allows */
    pingyi_lmdb_init (&self->db, dir);
    self->db.map_max = AGG_HISTORY_MAP;
    int rc = pingyi_lmdb_open (&self->db, dir, MDB_NOTLS, 1, AGG_HISTORY_MAP);
    if (rc) {
        pingyi_lmdb_fail (&self->db, err, "cannot open the history store", rc);
        goto fail;
    }
    int dead;
    mdb_reader_check (self->db.env, &dead);
    rc = pingyi_lmdb_write (&self->db, open_step, self, err);
    if (rc) {
        pingyi_lmdb_fail (&self->db, err, "cannot read the history store", rc);
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
    pingyi_lmdb_close (&self->db);
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

typedef struct {
    agg_history_t *self;
    MDB_val key, value;
} record_t;

/*  Append one record, then keep the newest `keep`: delete from the oldest
    end.  */
static int
record_step (MDB_txn *txn, void *arg, char *err)
{
    record_t *rec = arg;
    agg_history_t *self = rec->self;
    MDB_cursor *cur = NULL;
    int rc = mdb_put (txn, self->dbi, &rec->key, &rec->value, MDB_APPEND);
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
    return rc;
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
    pingyi_put_be64 (key, round);
    record_t rec = {self, {8, key}, {(size_t) hn + bn + 1, value}};
    int rc = pingyi_lmdb_write (&self->db, record_step, &rec, err);
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
    int rc = pingyi_lmdb_read (&self->db, &txn);
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
    if (pingyi_lmdb_read (&self->db, &txn))
        return 0;
    size_t n = mdb_stat (txn, self->dbi, &st) == 0 ? st.ms_entries : 0;
    mdb_txn_abort (txn);
    return n;
}
