/*  fuzz_input.c — libFuzzer target: any bytes as a venue's ballot file, read
    the way pingyi-client reads --input (client/input.c: pingyi_input_feed,
    pingyi_input_next): CSV with its header, or JSON Lines; UTF-8 (with or
    without BOM) or GB18030/GBK through iconv, detected or forced; as a
    regular file or as live input fed in pieces.

    Input layout: byte 0 chooses how it is read
        bit 0     JSON Lines (else CSV)
        bits 1-2  encoding: 0 auto, 1 utf-8, 2 gb18030, 3 auto
        bit 3     a regular file (else live input)
        bits 4-5  the venue (modulo the election's venues)
    byte 1 the size of each piece fed (byte % 64 + 1; 0: all at once);
    the rest is the file.  The election is examples/2022-district-review.json
    (or $PINGYI_FUZZ_ELECTION), loaded once.

    The reader must never crash, leak or read out of bounds, and must keep
    its promises: every result is one of the documented ones; a FATAL says
    why; a bad record is reported through the error function with a
    non-empty "FILE:LINE:COLUMN: reason" line (now, or earlier by the
    first-lines gate, never twice); every ballot it returns is
    valid for the venue and encodes within PINGYI_BODY_MAX; records and
    lines only grow; after finish the reader ends (END or FATAL) within as
    many calls as there are bytes.  A broken promise aborts.

    Seeds (tests/fuzz/corpus/input): a few lines of a real clerk's file
    (tests/integration/make_encoded_csv.py, venue v01) as UTF-8 with and
    without BOM, as GB18030, live and from a file, fed whole and in pieces,
    bad lines and bad bytes among them; JSON Lines; bad headers.  */
#include "ballot.h"
#include "election.h"
#include "input.h"

#include <stdlib.h>
#include <string.h>

#ifndef PINGYI_SOURCE_DIR
#define PINGYI_SOURCE_DIR "."
#endif

static pingyi_election_t *election;

static void
load_election (void)
{
    const char *path = getenv ("PINGYI_FUZZ_ELECTION");
    if (!path || !*path)
        path = PINGYI_SOURCE_DIR "/examples/2022-district-review.json";
    char err[PINGYI_ERR_MAX];
    election = pingyi_election_load_or_err (path, err);
    if (!election) {
        fprintf (stderr, "fuzz_input: %s\n", err);
        abort ();
    }
}

static size_t errors_seen, bad_seen;

static void
on_error (const char *line, void *arg)
{
    (void) arg;
    if (!line || !line[0] || !strchr (line, ':'))
        abort (); /* an error line always names where and why */
    errors_seen++;
}

/*  Pull records until the reader wants more (or ends).  Returns the last
    result.  */
static pingyi_input_result_t
drain (pingyi_input_t *in, size_t venue, size_t limit)
{
    pingyi_ballot_t b;
    char err[PINGYI_ERR_MAX];
    uint64_t records = pingyi_input_records (in), line = pingyi_input_line (in);
    for (size_t calls = 0;; calls++) {
        if (calls > limit)
            abort (); /* the reader does not end */
        err[0] = '\0';
        pingyi_input_result_t r = pingyi_input_next (in, &b, err);
        switch (r) {
        case PINGYI_INPUT_FATAL:
            if (!err[0])
                abort ();
            return r;
        case PINGYI_INPUT_BALLOT: {
            char why[PINGYI_ERR_MAX];
            if (pingyi_ballot_validate (&b, election, venue, why) != PINGYI_REJECT_NONE)
                abort (); /* a ballot handed out is valid */
            uint8_t body[PINGYI_BODY_MAX];
            if (pingyi_ballot_encode (&b, election, body, sizeof body) == 0)
                abort ();
            break;
        }
        case PINGYI_INPUT_BAD:
            /* reported once: now, or already by the first-lines gate */
            if (++bad_seen > errors_seen)
                abort ();
            break;
        case PINGYI_INPUT_MORE:
        case PINGYI_INPUT_END:
            return r;
        default:
            abort ();
        }
        if (pingyi_input_records (in) < records || pingyi_input_line (in) < line)
            abort ();
        records = pingyi_input_records (in);
        line = pingyi_input_line (in);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!election)
        load_election ();
    if (size < 2)
        return 0;
    uint8_t how = data[0], piece_b = data[1];
    data += 2;
    size -= 2;
    pingyi_input_format_t format = (how & 1) ? PINGYI_INPUT_JSONL : PINGYI_INPUT_CSV;
    static const pingyi_input_encoding_t encodings[4] = {PINGYI_ENCODING_AUTO, PINGYI_ENCODING_UTF8,
                                                         PINGYI_ENCODING_GB18030, PINGYI_ENCODING_AUTO};
    pingyi_input_encoding_t encoding = encodings[(how >> 1) & 3];
    bool file = (how >> 3) & 1;
    size_t venue = ((how >> 4) & 3) % election->venue_count;
    size_t piece = piece_b ? (size_t) (piece_b % 64) + 1 : (size ? size : 1);

    /* an input nothing was ever fed to (size 0) is a case too: it once
       computed NULL + 0 in client/input.c (take_line, detect_file) */
    pingyi_input_t *in = pingyi_input_new (election, venue, format, "fuzz.csv");
    if (!in)
        abort ();
    errors_seen = bad_seen = 0;
    pingyi_input_set_error_fn (in, on_error, NULL);
    pingyi_input_set_encoding (in, encoding, file);
    bool fatal = false;
    for (size_t at = 0; at < size && !fatal; at += piece) {
        size_t n = size - at < piece ? size - at : piece;
        /* a copy of exactly this piece, so ASan sees a read past it */
        uint8_t *copy = malloc (n);
        if (!copy)
            abort ();
        memcpy (copy, data + at, n);
        if (pingyi_input_feed (in, copy, n) != 0)
            abort ();
        free (copy);
        fatal = drain (in, venue, size + 16) == PINGYI_INPUT_FATAL;
    }
    if (!fatal) {
        pingyi_input_finish (in);
        pingyi_input_result_t r = drain (in, venue, size + 16);
        if (r != PINGYI_INPUT_END && r != PINGYI_INPUT_FATAL)
            abort (); /* finished, yet still wanting bytes */
    }
    uint8_t digest[PINGYI_DIGEST_LEN];
    pingyi_input_digest (in, digest);
    pingyi_input_destroy (&in);
    return 0;
}
