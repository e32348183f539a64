/*  input.h — ballots as a venue's scanner or entry station writes them:
    CSV (one form per line, a header naming every cell) or JSON Lines.
    docs/ballot-input.md describes both formats with examples.

    The parser is push-driven: the caller feeds bytes as they arrive (a file,
    or a pipe from a scanner that writes one line at a time) and pulls
    records.  So the client never blocks on its input while acks wait.

    Input is hostile.  A record that cannot be read is one bad record with one
    reason, "FILE:LINE:COLUMN: reason", handed to the error callback; the
    records around it are unaffected.  Only a bad CSV header is fatal: no line
    of the file can be read without it.

    A record is one non-empty line after the header, good or bad.  Records
    are numbered the same way on every run over the same bytes, and the
    parser keeps a digest of the header and the records it has returned, so
    the outbox can check that a restarted client is given the same input
    before it skips what it already took.  */
#ifndef PINGYI_CLIENT_INPUT_H
#define PINGYI_CLIENT_INPUT_H

#include "ballot.h"
#include "common.h"

#define PINGYI_INPUT_LINE_MAX (1u << 20) /* longest line, bytes; longer is a bad record */
#define PINGYI_DIGEST_LEN 32

typedef enum {
    PINGYI_INPUT_CSV = 0,
    PINGYI_INPUT_JSONL = 1,
} pingyi_input_format_t;

typedef enum {
    PINGYI_INPUT_FATAL = -1, /* the header is bad (or out of memory): err says why */
    PINGYI_INPUT_BALLOT = 0, /* *ballot holds a good ballot */
    PINGYI_INPUT_BAD = 1,    /* a bad record, already reported to the error callback */
    PINGYI_INPUT_MORE = 2,   /* no complete line buffered: feed more, or finish */
    PINGYI_INPUT_END = 3,    /* finished and everything returned */
} pingyi_input_result_t;

/*  Receives one complete error line, "FILE:LINE:COLUMN: reason", no newline.  */
typedef void (pingyi_input_error_fn) (const char *line, void *arg);

typedef struct pingyi_input_t pingyi_input_t;

/*  A parser for the form of venue (an index into election).  name is what
    error lines call the input ("ballots.csv", "-" is shown as "stdin").  */
pingyi_input_t *pingyi_input_new (const pingyi_election_t *election, size_t venue,
                                  pingyi_input_format_t format, const char *name);
void pingyi_input_destroy (pingyi_input_t **self_p);

/*  Where error lines go; NULL (the default) prints them on stderr.  */
void pingyi_input_set_error_fn (pingyi_input_t *self, pingyi_input_error_fn *fn, void *arg);

/*  Append bytes.  0, or -1 when out of memory.  */
int pingyi_input_feed (pingyi_input_t *self, const void *data, size_t len) PINGYI_WARN_UNUSED;
/*  No more bytes will come: a last line without a newline is complete.  */
void pingyi_input_finish (pingyi_input_t *self);

/*  The next record.  err (PINGYI_ERR_MAX) is set on PINGYI_INPUT_FATAL.  */
pingyi_input_result_t pingyi_input_next (pingyi_input_t *self, pingyi_ballot_t *ballot, char *err);

/*  Physical line number (1-based) of the record last returned.  */
uint64_t pingyi_input_line (const pingyi_input_t *self);
/*  Records returned so far (good and bad).  */
uint64_t pingyi_input_records (const pingyi_input_t *self);
/*  BLAKE2b-256 of the header and of every record returned so far (each line
    without its terminator, then a '\n').  */
void pingyi_input_digest (const pingyi_input_t *self, uint8_t out[PINGYI_DIGEST_LEN]);

/*  The format a file name suggests: .jsonl / .json / .ndjson → JSONL, else CSV.  */
pingyi_input_format_t pingyi_input_format_for (const char *path);
/*  "csv" / "jsonl" → 0 with *format set; else -1.  */
int pingyi_input_format_parse (const char *name, pingyi_input_format_t *format);

/*  The character encoding of the input (docs/ballot-input.md, "Encodings").
    Lines are converted to UTF-8 (iconv) before they are parsed; the digest
    is over the bytes as given.  */
typedef enum {
    PINGYI_ENCODING_AUTO = 0, /* valid UTF-8 is UTF-8, anything else GB18030 */
    PINGYI_ENCODING_UTF8 = 1,
    PINGYI_ENCODING_GB18030 = 2, /* also GBK and GB2312, its subsets */
} pingyi_input_encoding_t;

/*  "utf-8" / "utf8" / "gb18030" / "gbk" / "gb2312" / "auto" (any case) → 0
    with *encoding set; else -1.  */
int pingyi_input_encoding_parse (const char *name, pingyi_input_encoding_t *encoding);

/*  Set before the first pingyi_input_next.  With AUTO, a regular file
    (file true) is judged on its first PINGYI_INPUT_DETECT_MAX bytes (the
    whole file when smaller) before any line is taken; live input (file
    false) on its first line holding a byte that is not ASCII, and the
    choice is said on stderr.  */
void pingyi_input_set_encoding (pingyi_input_t *self, pingyi_input_encoding_t encoding, bool file);
#define PINGYI_INPUT_DETECT_MAX (8u << 20)

/*  When the first PINGYI_INPUT_PROBE_LINES records (or all of them, when
    there are fewer) are all bad, pingyi_input_next reports them and returns
    PINGYI_INPUT_FATAL before returning any record: a file in the wrong
    encoding or not made from the venue's template is refused whole.  */
#define PINGYI_INPUT_PROBE_LINES 20

#endif
