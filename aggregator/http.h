/*  http.h — the HTTP server of the aggregator (libmicrohttpd): binds the
    --http address, answers every request through agg_api_route from the
    board's current state.

    Threads: libmicrohttpd's own (an internal polling thread pool of
    AGG_HTTP_THREADS); each request takes a reference to the board's
    current state, renders without a lock and releases it (state.h).
    Bounds: GET only; request bodies are never read (the answer is queued at
    the first call, so an upload is cut off, counted, and the connection
    closed); paths over AGG_URL_MAX bytes are 414; request lines and headers
    beyond AGG_HTTP_MEMORY bytes are refused by libmicrohttpd itself; at
    most AGG_HTTP_CONNECTIONS connections, idle ones closed after
    AGG_HTTP_TIMEOUT_S seconds.

    The dashboard (web.h, docs/dashboard.md): "/" and "/assets/NAME" are
    the embedded page and its assets, with strict headers; any other path
    is the API's.  With a token, every path but /healthz and /readyz asks
    for it (Authorization: Bearer, or the cookie /?token=TOKEN sets, with a
    303 to "/"); a request without it is 401 and counted.  Without a token
    the API answers exactly as it always did.  */
#ifndef AGG_HTTP_H
#define AGG_HTTP_H

#include "api.h"
#include "state.h"
#include "web.h"

#include <sys/socket.h>

#define AGG_HTTP_THREADS 2
#define AGG_HTTP_CONNECTIONS 128
#define AGG_HTTP_TIMEOUT_S 10
#define AGG_HTTP_MEMORY (32 * 1024)

typedef struct agg_http_t agg_http_t;

/*  --http HOST:PORT is read by pingyi_metrics_parse_addr (metrics.h), the
    one parser of a listening address (PORT 0: any free port).  */

/*  Listen on spec and serve.  board and api must outlive the server.  NULL
    with err.  */
agg_http_t *agg_http_start (const char *spec, agg_board_t *board, agg_api_t *api, char *err);
/*  The same, asking for token (copied; NULL or not set: no token) on every
    request but the probes /healthz and /readyz.  */
agg_http_t *agg_http_start_guarded (const char *spec, agg_board_t *board, agg_api_t *api,
                                    const agg_web_token_t *token, char *err);
/*  Requests refused for a missing or wrong token.  */
unsigned long long agg_http_unauthorized (const agg_http_t *self);
/*  The port bound (useful when spec asked for port 0).  */
uint16_t agg_http_port (const agg_http_t *self);
/*  Stop serving (waits for requests in progress) and free; safe twice.  */
void agg_http_stop (agg_http_t **self_p);

#endif
