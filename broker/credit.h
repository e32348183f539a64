/*  credit.h — the broker's byte credit: how many bytes of SUBMITs it may
    have forwarded to workers and not yet seen answered, all workers
    together, and who owes what.

    ZeroMQ's high-water marks count messages, and a SUBMIT is anything from
    one envelope to thousands, so the broker counts bytes.  The credit is
    what is left of a memory budget (PINGYI_CREDIT_BUDGET) once every open
    connection is charged PINGYI_CREDIT_PER_CONNECTION (libzmq holds some
    40 KB per CURVE connection whatever it carries: pipes, codec buffers;
    measured: 1,200 idle venues cost 47 MB), kept between PINGYI_CREDIT_MIN
    and PINGYI_CREDIT_MAX.  40 MB is over a second of work for the workers
    of a 2-core box (docs/PERFORMANCE.md), so a venue that backs off for a
    RETRY finds its worker still busy, not idle.

    Invariants: `bytes` is the sum of owed_bytes over the live workers
    (pingyi_route_t, routes.h); a SUBMIT always goes when its worker owes
    nothing, so no size of SUBMIT is refused for good; each SUBMIT's ticket
    records its bytes and the answer to it (ACK, or RETRY / ERROR) pays them
    back exactly; a worker that is dropped, or owes and has answered no
    SUBMIT for PINGYI_CREDIT_FORGIVE_MS, has its debt written off.
    Pure bookkeeping: no socket, no clock (the caller gives `now`), no log.  */
#ifndef PINGYI_CREDIT_H
#define PINGYI_CREDIT_H

#include "routes.h"
#include "tickets.h"

#define PINGYI_CREDIT_BUDGET (48u << 20)         /* connections + credit */
#define PINGYI_CREDIT_PER_CONNECTION (40u << 10) /* libzmq's own, per CURVE connection */
#define PINGYI_CREDIT_MIN (8u << 20)
#define PINGYI_CREDIT_MAX (40u << 20)
/*  Bytes whose answer never came (a reply the worker could not send) must
    not eat the credit until their tickets expire.  A busy worker
    acknowledges every few milliseconds.  */
#define PINGYI_CREDIT_FORGIVE_MS 5000

typedef struct {
    uint64_t bytes;       /* lent and not yet repaid: the sum of owed_bytes over live workers */
    uint64_t connections; /* open connections (the broker's socket monitor) */
} pingyi_credit_t;

/*  The credit the connections leave: BUDGET − connections × PER_CONNECTION,
    clamped to MIN..MAX.  */
uint64_t pingyi_credit_limit (const pingyi_credit_t *self);

/*  A connection was accepted; one closed.  Disconnected returns false when
    no connection was counted (nothing to count off).  */
void pingyi_credit_connected (pingyi_credit_t *self);
bool pingyi_credit_disconnected (pingyi_credit_t *self);

/*  True when a SUBMIT of len bytes to worker w must wait (RETRY): w owes
    something already and the lending would pass the limit.  */
bool pingyi_credit_refuses (const pingyi_credit_t *self, const pingyi_route_t *w, uint64_t len);

/*  A SUBMIT of len bytes went to w at now: w owes them.  The forgiveness
    clock (w->last_answer_ms) starts with the debt.  */
void pingyi_credit_lend (pingyi_credit_t *self, pingyi_route_t *w, uint64_t len, int64_t now);

/*  The SUBMIT ticket t is done with (answered, expired): its bytes come back
    from the worker w it went to (NULL: looked up in routes by t->worker), if
    that connection is still the one it went to and owes them (never more
    than it owes).  now, when not 0, is the worker's last answer.  */
void pingyi_credit_repay (pingyi_credit_t *self, pingyi_routes_t *routes, pingyi_route_t *w,
                          const pingyi_ticket_t *t, int64_t now);

/*  True when w owes bytes and has answered no SUBMIT for more than
    PINGYI_CREDIT_FORGIVE_MS before now.  */
bool pingyi_credit_overdue (const pingyi_route_t *w, int64_t now);

/*  W's whole debt is written off (it was dropped, or is overdue).  */
void pingyi_credit_forgive (pingyi_credit_t *self, pingyi_route_t *w);

#endif
