/*  api.h — the aggregator's HTTP JSON API as a pure function: a request
    (method, path, query arguments) and a published state in, a status and a
    JSON body out.  No sockets here: http.c feeds it from libmicrohttpd, and
    the unit tests call it directly.  Endpoints and formats: docs/API.md.

    Every body is one JSON object (UTF-8); errors are {"error":"..."} with
    400 (bad parameter), 404 (no such endpoint), 405 (not GET), 414 (path
    too long), 503 (no view yet) or 500 (out of memory, storage).  */
#ifndef AGG_API_H
#define AGG_API_H

#include "history.h"
#include "state.h"

#define AGG_API_VERSION 1
#define AGG_URL_MAX 1024 /* longest path accepted, bytes */
#define AGG_ARGS_MAX 16  /* query arguments accepted */
#define AGG_ARG_MAX 256  /* longest argument value, bytes */
#define AGG_HISTORY_LIMIT_DEFAULT 100
/*  The body served when even an error body could not be allocated.  */
#define AGG_OOM_BODY "{\"error\":\"out of memory\"}\n"

typedef struct {
    const char *key;
    const char *value; /* NULL for a key given without '=' */
} agg_arg_t;

typedef struct {
    int status;
    char *body; /* malloc'd, NUL-terminated; the caller frees */
    size_t len;
} agg_reply_t;

/*  Counters of the HTTP side, updated from any thread.  */
typedef struct {
    atomic_ullong requests;
    atomic_ullong ok;              /* 200 */
    atomic_ullong bad_request;     /* 400 */
    atomic_ullong not_found;       /* 404 */
    atomic_ullong bad_method;      /* 405 */
    atomic_ullong too_long;        /* 414 */
    atomic_ullong unavailable;     /* 503 */
    atomic_ullong failed;          /* 500 */
    atomic_ullong history_skipped; /* stored history records not fit to serve */
    atomic_ullong bodies_ignored;  /* requests that came with a body (never read) */
} agg_api_stats_t;

typedef struct {
    agg_history_t *history; /* may be NULL: /history answers 503 */
    agg_api_stats_t stats;
} agg_api_t;

/*  Answer one request at now (monotonic ms, for ages).  state may be NULL
    (before the first round): 503.  Never fails: out of memory is a 500
    with a static body.  */
void agg_api_route (agg_api_t *api, const agg_state_t *state, int64_t now, const char *method,
                    const char *path, const agg_arg_t *args, size_t arg_count, agg_reply_t *reply);

void agg_reply_free (agg_reply_t *reply);

#endif
