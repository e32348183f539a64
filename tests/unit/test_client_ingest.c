/*  test_client_ingest.c — taking a venue's ballots into its outbox
    (client/ingest.c), driven alone: a small CSV file with good and bad
    lines leaves exactly its good ballots in the outbox, each sealed in an
    envelope that opens back (proto/envelope.h) to the very ballot of its
    line, and each id queued to send once; the bad lines are reported as
    FILE:LINE:COLUMN: reason, counted and not taken.  A restart on the
    same outbox skips what was taken and reports nothing again; another
    file is refused.  Live input (a pipe) waits in the mixing pool and is
    let go whole at the end of the input.  */
#include "../../client/ingest.c"
#include "../../client/input.c"
#include "../../client/mix.c"
#include "../../client/outbox.c"

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

/*  The example election's venue v01 (11 subjects x 7 items): eight
    records, six good and two bad (line 3: an unknown grade; line 6: an
    unknown category), made by make_csv.  */
#define EXAMPLE PINGYI_SOURCE_DIR "/examples/2022-district-review.json"
#define GOOD 6
#define BAD 2

#define MAX_IDS 64

typedef struct {
    char dir[64];
    char csv[96];
    char outbox[96];
    pingyi_election_t *election;
    size_t venue;
    char *text; /* the CSV */
    uint8_t key[32];
    pingyi_outbox_t *ob;
    uint8_t ids[MAX_IDS][PINGYI_BALLOT_ID_LEN];
    size_t id_count;
    char *bad[MAX_IDS];
    size_t bad_count;
    char *infos[MAX_IDS];
    size_t info_count;
    size_t commits;
} fixture_t;

static int
hook_queue (void *arg, const uint8_t *id)
{
    fixture_t *f = arg;
    assert_true (f->id_count < MAX_IDS);
    memcpy (f->ids[f->id_count++], id, PINGYI_BALLOT_ID_LEN);
    return 0;
}

static void
hook_bad_line (void *arg, const char *line)
{
    fixture_t *f = arg;
    assert_true (f->bad_count < MAX_IDS);
    f->bad[f->bad_count++] = strdup (line);
}

static void
hook_info (void *arg, const char *text)
{
    fixture_t *f = arg;
    assert_true (f->info_count < MAX_IDS);
    f->infos[f->info_count++] = strdup (text);
}

static void
hook_committed (void *arg)
{
    ((fixture_t *) arg)->commits++;
}

static void
forget (fixture_t *f)
{
    for (size_t i = 0; i < f->bad_count; i++)
        free (f->bad[i]);
    for (size_t i = 0; i < f->info_count; i++)
        free (f->infos[i]);
    f->bad_count = f->info_count = f->id_count = f->commits = 0;
}

static void
write_file (const char *path, const char *text)
{
    FILE *fp = fopen (path, "w");
    assert_non_null (fp);
    fputs (text, fp);
    fclose (fp);
}

/*  The CSV of GOOD + BAD records for the venue's form, each good one
    different (letters A-D by row and column, some cells BLANK).  */
static char *
make_csv (const pingyi_election_t *e, size_t venue)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&text, &len);
    assert_non_null (out);
    const pingyi_venue_t *v = &e->venues[venue];
    fputs ("category", out);
    for (size_t s = 0; s < v->subject_count; s++)
        for (size_t i = 0; i < e->item_count; i++)
            fprintf (out, ",%s:%s", e->subjects[v->subjects[s]].id, e->items[i].id);
    fputc ('\n', out);
    for (size_t row = 0; row < GOOD + BAD; row++) {
        bool bad_category = row == 4, bad_grade = row == 1;
        fputs (bad_category ? "c3" : e->categories[row % e->category_count].id, out);
        size_t col = 0;
        for (size_t s = 0; s < v->subject_count; s++)
            for (size_t i = 0; i < e->item_count; i++, col++) {
                if (bad_grade && col == 0)
                    fputs (",优", out);
                else if ((row + col) % 5 == 4)
                    fputs (",", out); /* BLANK */
                else
                    fprintf (out, ",%c", "ABCD"[(row * 3 + col) % 4]);
            }
        fputc ('\n', out);
    }
    fclose (out);
    return text;
}

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    strcpy (f->dir, "/tmp/pingyi-test-ingest-XXXXXX");
    if (!mkdtemp (f->dir))
        return -1;
    snprintf (f->csv, sizeof f->csv, "%s/b.csv", f->dir);
    snprintf (f->outbox, sizeof f->outbox, "%s/ob", f->dir);
    pingyi_errlist_t errs = {0};
    f->election = pingyi_election_load (EXAMPLE, &errs);
    for (size_t i = 0; i < errs.count; i++)
        fprintf (stderr, "definition: %s\n", errs.lines[i]);
    pingyi_errlist_clear (&errs);
    if (!f->election)
        return -1;
    int v = pingyi_election_venue (f->election, "v01", 3);
    if (v < 0)
        return -1;
    f->venue = (size_t) v;
    f->text = make_csv (f->election, f->venue);
    write_file (f->csv, f->text);
    randombytes_buf (f->key, sizeof f->key);
    char err[PINGYI_ERR_MAX];
    f->ob = pingyi_outbox_open (f->outbox, f->election->fingerprint, "v01", err);
    if (!f->ob) {
        fprintf (stderr, "%s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static void
remove_tree (const char *dir)
{
    DIR *d = opendir (dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir (d))) {
        if (!strcmp (e->d_name, ".") || !strcmp (e->d_name, ".."))
            continue;
        char path[512];
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink (path))
            remove_tree (path);
    }
    closedir (d);
    rmdir (dir);
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    forget (f);
    pingyi_outbox_close (&f->ob);
    pingyi_election_destroy (&f->election);
    free (f->text);
    remove_tree (f->dir);
    free (f);
    return 0;
}

/*  Take a whole input through an ingest, as the client does.  0, or -1
    with err.  */
static int
ingest_from (fixture_t *f, int fd, const char *name, char err[PINGYI_INGEST_ERR_MAX])
{
    pingyi_input_t *in = pingyi_input_new (f->election, f->venue, PINGYI_INPUT_CSV, name);
    assert_non_null (in);
    struct stat st;
    pingyi_input_set_encoding (in, PINGYI_ENCODING_UTF8, fstat (fd, &st) == 0 && S_ISREG (st.st_mode));
    pingyi_ingest_config_t config = {
        .election = f->election,
        .venue = f->venue,
        .key = f->key,
        .outbox = f->ob,
        .outbox_dir = f->outbox,
        .input = in,
        .input_fd = fd,
        .input_name = name,
        .hooks = {.arg = f,
                  .queue = hook_queue,
                  .bad_line = hook_bad_line,
                  .info = hook_info,
                  .committed = hook_committed},
    };
    pingyi_ingest_t *ing = pingyi_ingest_new (&config);
    assert_non_null (ing);
    int rc = 0;
    while (!rc && !pingyi_ingest_done (ing)) {
        if (!pingyi_ingest_ready (ing)) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            assert_true (poll (&p, 1, 5000) > 0);
            pingyi_ingest_set_ready (ing);
        }
        rc = pingyi_ingest_step (ing, err);
    }
    pingyi_ingest_destroy (&ing);
    assert_null (ing);
    pingyi_ingest_destroy (&ing); /* safe twice */
    pingyi_input_destroy (&in);
    return rc;
}

static int
ingest_file (fixture_t *f, const char *path, char err[PINGYI_INGEST_ERR_MAX])
{
    int fd = open (path, O_RDONLY);
    assert_true (fd >= 0);
    int rc = ingest_from (f, fd, path, err);
    close (fd);
    return rc;
}

static void
quiet (const char *line, void *arg)
{
    (void) line;
    (void) arg;
}

static int
compare_bodies (const void *a, const void *b)
{
    return memcmp (a, b, PINGYI_BODY_MAX);
}

/*  The outbox holds exactly the good ballots of CSV, each opening back to
    the ballot of its line, under the ids queued (each once).  */
static void
assert_outbox_holds_the_csv (fixture_t *f)
{
    /*  What the lines say, parsed apart: encoded bodies, sorted.  */
    uint8_t expect[GOOD][PINGYI_BODY_MAX] = {{0}};
    size_t expect_len = 0, n = 0;
    pingyi_input_t *in = pingyi_input_new (f->election, f->venue, PINGYI_INPUT_CSV, "x.csv");
    pingyi_input_set_error_fn (in, quiet, NULL);
    pingyi_input_set_encoding (in, PINGYI_ENCODING_UTF8, true);
    assert_int_equal (pingyi_input_feed (in, f->text, strlen (f->text)), 0);
    pingyi_input_finish (in);
    pingyi_ballot_t ballot;
    char err[PINGYI_ERR_MAX];
    pingyi_input_result_t r;
    while ((r = pingyi_input_next (in, &ballot, err)) != PINGYI_INPUT_END) {
        assert_int_not_equal (r, PINGYI_INPUT_FATAL);
        if (r == PINGYI_INPUT_BALLOT) {
            assert_true (n < GOOD);
            expect_len = pingyi_ballot_encode (&ballot, f->election, expect[n++], PINGYI_BODY_MAX);
            assert_true (expect_len > 0);
        }
    }
    pingyi_input_destroy (&in);
    assert_int_equal (n, GOOD);
    qsort (expect, GOOD, PINGYI_BODY_MAX, compare_bodies);

    /*  What the outbox holds, opened and decoded: the same, sorted.  */
    uint8_t got[GOOD][PINGYI_BODY_MAX] = {{0}};
    uint8_t *pending;
    size_t count;
    assert_int_equal (pingyi_outbox_pending_ids (f->ob, &pending, &count, err), 0);
    assert_int_equal (count, GOOD);
    assert_int_equal (f->id_count, GOOD);
    assert_int_equal (pingyi_outbox_read_begin (f->ob, err), 0);
    for (size_t i = 0; i < GOOD; i++) {
        /*  Every id queued is pending, and only once.  */
        for (size_t j = 0; j < i; j++)
            assert_memory_not_equal (f->ids[i], f->ids[j], PINGYI_BALLOT_ID_LEN);
        const uint8_t *bytes = NULL;
        size_t len = 0;
        assert_int_equal (pingyi_outbox_read_get (f->ob, f->ids[i], &bytes, &len), 1);
        pingyi_envelope_t env;
        assert_int_equal (pingyi_envelope_parse (bytes, len, &env, err), 0);
        uint8_t body[PINGYI_BODY_MAX];
        size_t body_len;
        assert_int_equal (pingyi_envelope_open (&env, f->key, body, sizeof body, &body_len), 0);
        assert_int_equal (body_len, expect_len);
        pingyi_ballot_t b;
        assert_int_equal (pingyi_ballot_decode (f->election, f->venue, body, body_len, &b, err),
                          PINGYI_REJECT_NONE);
        assert_int_equal (pingyi_ballot_encode (&b, f->election, got[i], PINGYI_BODY_MAX), expect_len);
    }
    pingyi_outbox_read_end (f->ob);
    free (pending);
    qsort (got, GOOD, PINGYI_BODY_MAX, compare_bodies);
    assert_memory_equal (got, expect, sizeof got);
}

static void
test_file_takes_exactly_the_good_ballots (void **state)
{
    fixture_t *f = *state;
    char err[PINGYI_INGEST_ERR_MAX] = "";
    assert_int_equal (ingest_file (f, f->csv, err), 0);
    /*  The bad lines, said and counted, not taken.  */
    assert_int_equal (f->bad_count, BAD);
    char prefix[128];
    snprintf (prefix, sizeof prefix, "%s:3:", f->csv);
    assert_int_equal (strncmp (f->bad[0], prefix, strlen (prefix)), 0);
    assert_non_null (strstr (f->bad[0], "unknown grade \"优\""));
    snprintf (prefix, sizeof prefix, "%s:6:", f->csv);
    assert_int_equal (strncmp (f->bad[1], prefix, strlen (prefix)), 0);
    assert_non_null (strstr (f->bad[1], "unknown category \"c3\""));
    pingyi_outbox_stats_t st;
    pingyi_outbox_stats (f->ob, &st);
    assert_int_equal (st.ingested, GOOD);
    assert_int_equal (st.bad_lines, BAD);
    assert_int_equal (st.input_consumed, GOOD + BAD);
    assert_int_equal (st.pending, GOOD);
    assert_int_equal (st.pooled, 0); /* a file goes through a shuffled window, not the pool */
    assert_true (st.has_digest);
    /*  One window: one commit.  */
    assert_int_equal (f->commits, 1);
    assert_outbox_holds_the_csv (f);
}

static void
test_restart_skips_what_was_taken (void **state)
{
    fixture_t *f = *state;
    char err[PINGYI_INGEST_ERR_MAX] = "";
    assert_int_equal (ingest_file (f, f->csv, err), 0);
    forget (f);
    /*  The same file again: all skipped, nothing said twice or taken twice.  */
    assert_int_equal (ingest_file (f, f->csv, err), 0);
    assert_int_equal (f->bad_count, 0);
    assert_int_equal (f->id_count, 0);
    assert_int_equal (f->info_count, 1);
    assert_string_equal (f->infos[0], "skipped the 8 input records the outbox took in an earlier run");
    pingyi_outbox_stats_t st;
    pingyi_outbox_stats (f->ob, &st);
    assert_int_equal (st.ingested, GOOD);
    assert_int_equal (st.input_consumed, GOOD + BAD);
    /*  Another file of the same length: refused, not skipped.  */
    char other[128];
    snprintf (other, sizeof other, "%s/other.csv", f->dir);
    char *text = strdup (f->text);
    char *last = strrchr (text, ',') + 1; /* the last cell of the last record */
    *last = *last == 'A' ? 'B' : 'A';
    write_file (other, text);
    free (text);
    forget (f);
    assert_int_equal (ingest_file (f, other, err), -1);
    char expect[PINGYI_INGEST_ERR_MAX];
    snprintf (
        expect, sizeof expect,
        "the first 8 records of this input differ from those outbox %s took (a different file, seed or "
        "definition?): refusing to skip them; use the original input, or a fresh --outbox for a new one",
        f->outbox);
    assert_string_equal (err, expect);
    /*  A shorter one too.  */
    text = strndup (f->text, (size_t) (strchr (strchr (f->text, '\n') + 1, '\n') + 1 - f->text));
    write_file (other, text); /* the header and the first record */
    free (text);
    assert_int_equal (ingest_file (f, other, err), -1);
    snprintf (expect, sizeof expect,
              "the input ended after 1 records, but outbox %s has already taken 8 from it: this is not the "
              "input it was started with",
              f->outbox);
    assert_string_equal (err, expect);
}

static void
test_live_input_waits_in_the_pool (void **state)
{
    fixture_t *f = *state;
    int p[2];
    assert_int_equal (pipe (p), 0);
    /*  The whole CSV fits the pipe's buffer; then the end of the input.  */
    assert_int_equal (write (p[1], f->text, strlen (f->text)), (ssize_t) strlen (f->text));
    close (p[1]);
    char err[PINGYI_INGEST_ERR_MAX] = "";
    assert_int_equal (ingest_from (f, p[0], "-", err), 0);
    close (p[0]);
    assert_int_equal (f->bad_count, BAD);
    assert_int_equal (strncmp (f->bad[0], "stdin:3:", 8), 0);
    /*  Fewer than k (10): held in the pool until the end of the input,
        then let go whole.  */
    assert_int_equal (f->info_count, 1);
    assert_string_equal (f->infos[0],
                         "end of input: the 6 ballots in the mixing pool leave in random order (k = 10)");
    pingyi_outbox_stats_t st;
    pingyi_outbox_stats (f->ob, &st);
    assert_int_equal (st.pooled, 0);
    assert_int_equal (st.bad_lines, BAD);
    assert_outbox_holds_the_csv (f);
}

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_file_takes_exactly_the_good_ballots, setup, teardown),
        cmocka_unit_test_setup_teardown (test_restart_skips_what_was_taken, setup, teardown),
        cmocka_unit_test_setup_teardown (test_live_input_waits_in_the_pool, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
