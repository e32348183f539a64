/*  fuzz_history.c — libFuzzer target: any bytes as one stored value of the
    aggregator's history file (aggregator/history.c, LMDB db "history",
    --data DIR), through the two readers of a stored value: body_of (at
    open: the body of the newest record, compared with each new body so a
    restart does not repeat the last record) and value_ok (at GET
    /api/v1/history: a value is served as it is only when fit).  Both are
    static, so this file includes history.c, as tests/unit/test_agg_*.c do.

    Neither may crash or read out of bounds (the value is an exact-size
    copy).  body_of returns a string made of the value's own bytes, after
    ",\"sequences\":" and before the last '}'.  And the writer's format
    reads back: the record agg_history_record composes from a body (the
    input as text after "\"sequences\":", as the writer's bodies begin) is
    fit to serve when the body has no control byte, and body_of gives the
    body back exactly.  A broken promise aborts.

    Seeds (tests/fuzz/corpus/history): records a real pingyi-agg stored for
    the example election, and broken ones.  */
#include "../../aggregator/history.c"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    /* the stored value as LMDB hands it: bytes, not NUL-terminated */
    uint8_t *value = malloc (size ? size : 1);
    if (!value)
        abort ();
    memcpy (value, data, size);
    bool ok = value_ok (value, size);
    if (ok && (size < 2 || value[0] != '{' || value[size - 1] != '}'))
        abort ();
    char *body = body_of ((const char *) value, size);
    if (body) {
        /* the value may hold NUL bytes: compare the bytes, not strlen */
        const char *at = memmem (value, size, ",\"sequences\":", 13);
        if (!at)
            abort ();
        size_t n = (size_t) ((const char *) value + size - 1 - (at + 1));
        if (memcmp (body, at + 1, n) != 0 || body[n] != '\0')
            abort ();
    }
    free (body);
    free (value);

    /* the writer's record of a body, read back */
    size_t len = strnlen ((const char *) data, size);
    char *b = malloc (len + 13);
    if (!b)
        abort ();
    memcpy (b, "\"sequences\":", 12);
    memcpy (b + 12, data, len);
    b[12 + len] = '\0';
    char head[96];
    int hn = snprintf (head, sizeof head, "{\"round\":%llu,\"time\":%lld,", (unsigned long long) size * 7919u,
                       (long long) 1700000000 + (long long) size);
    size_t bn = strlen (b);
    char *rec = malloc ((size_t) hn + bn + 2);
    if (!rec)
        abort ();
    memcpy (rec, head, (size_t) hn);
    memcpy (rec + hn, b, bn);
    rec[hn + bn] = '}';
    size_t rec_len = (size_t) hn + bn + 1;
    bool controls = false;
    for (size_t i = 0; i < bn; i++)
        controls |= (uint8_t) b[i] < 0x20 || b[i] == 0x7f;
    if (value_ok ((const uint8_t *) rec, rec_len) == controls)
        abort ();
    char *back = body_of (rec, rec_len);
    if (!back || strcmp (back, b) != 0)
        abort (); /* a restart would write the last record again */
    free (back);
    free (rec);
    free (b);
    return 0;
}
