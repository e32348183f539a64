/*  tickets.h — the broker's pending requests: which answer may go where.

    A worker never learns a requester's connection.  When the broker forwards
    a request (SUBMIT, VENUE_OPEN, VENUE_CLOSE, TALLY_QUERY, STATS_QUERY) it
    opens a ticket: a fresh random 64-bit number (never 0, never one still
    pending) standing for (requester's routing id, the worker connection it
    went to, the request's type, when).  The FORWARD carries the ticket; the
    worker's REPLY names it.  A REPLY is relayed only when its ticket is
    pending, it comes from the very worker connection the request went to,
    and its inner frame is an answer to that kind of request; the ticket is
    then closed (one answer per request).  So a worker key cannot address a
    frame to another worker, to a venue that asked another worker, or answer
    a request twice, whatever ticket it guesses.

    Soft state like the routes: a restarted broker starts empty and the
    requesters resend.  Bounded: at most max_pending tickets (beyond, the
    broker answers RETRY), each expires (the requester has long resent), and
    a worker that is dropped takes its tickets with it.  */
#ifndef PINGYI_TICKETS_H
#define PINGYI_TICKETS_H

#include "msg.h"

#define PINGYI_TICKETS_MAX 65536    /* pending at once; beyond, RETRY */
#define PINGYI_TICKET_TTL_MS 120000 /* a ticket unanswered this long is forgotten */
#define PINGYI_TICKET_INLINE_ID 22  /* routing ids up to this many bytes live in the slot */

typedef struct {
    uint64_t ticket; /* 0: a free slot */
    uint64_t worker; /* the serial of the worker connection it was forwarded to (routes.h) */
    int64_t at_ms;   /* when it was forwarded */
    uint32_t bytes;  /* SUBMIT bytes lent against the broker's credit; 0 otherwise */
    uint8_t type;    /* the request's message type */
    uint8_t small[PINGYI_TICKET_INLINE_ID];
    uint16_t requester_len;
    uint8_t *big; /* the requester's routing id when longer than the slot holds */
} pingyi_ticket_t;

typedef enum {
    PINGYI_REPLY_OK = 0,         /* relay it to the requester, then close the ticket */
    PINGYI_REPLY_UNKNOWN_TICKET, /* no such ticket is pending */
    PINGYI_REPLY_WRONG_WORKER,   /* pending, but forwarded to another connection */
    PINGYI_REPLY_WRONG_KIND,     /* the inner frame is not an answer to that request */
} pingyi_reply_verdict_t;

typedef struct pingyi_tickets_t pingyi_tickets_t;

pingyi_tickets_t *pingyi_tickets_new (size_t max_pending);
void pingyi_tickets_destroy (pingyi_tickets_t **self_p);
size_t pingyi_tickets_pending (const pingyi_tickets_t *self);

/*  Open a ticket for a request of `type` from `requester` forwarded to
    worker connection `worker`.  The ticket number, or 0 when max_pending are
    pending (or memory ran out, or the routing id is not 1..255 bytes).  */
uint64_t pingyi_tickets_open (pingyi_tickets_t *self, int type, const uint8_t *requester,
                              size_t requester_len, uint64_t worker, uint32_t bytes, int64_t now_ms);
/*  A pending ticket, or NULL.  */
const pingyi_ticket_t *pingyi_tickets_find (const pingyi_tickets_t *self, uint64_t ticket);
/*  The requester's routing id of a ticket (requester_len bytes).  */
const uint8_t *pingyi_ticket_requester (const pingyi_ticket_t *t);
/*  Close a ticket (answered, or its FORWARD could not be sent).  */
void pingyi_tickets_close (pingyi_tickets_t *self, uint64_t ticket);

/*  Judge a REPLY naming `ticket`, from worker connection `worker`, carrying
    `inner`.  On PINGYI_REPLY_OK *t is the pending ticket: send the inner
    frame to its requester, then close it.  *inner_type is the inner frame's
    type, or -1 when its head is not [2, type, ...].  Nothing changes.  */
pingyi_reply_verdict_t pingyi_tickets_check (const pingyi_tickets_t *self, uint64_t ticket, uint64_t worker,
                                             const uint8_t *inner, size_t inner_len,
                                             const pingyi_ticket_t **t, int *inner_type);

/*  Called for each ticket an expiry or a release removes, before it goes.  */
typedef void (pingyi_ticket_fn) (const pingyi_ticket_t *t, void *arg);
/*  Close tickets older than ttl_ms; returns how many.  */
size_t pingyi_tickets_expire (pingyi_tickets_t *self, int64_t now_ms, int64_t ttl_ms, pingyi_ticket_fn *fn,
                              void *arg);
/*  Close every ticket forwarded to worker connection `worker` (it was
    dropped: the requesters resend); returns how many.  */
size_t pingyi_tickets_release_worker (pingyi_tickets_t *self, uint64_t worker, pingyi_ticket_fn *fn,
                                      void *arg);
/*  Zero the credit bytes of every ticket of `worker` (its debt was forgiven).  */
void pingyi_tickets_forgive_worker (pingyi_tickets_t *self, uint64_t worker);

/*  The type of a frame from its head alone ([2, type, ...]), or -1.  The
    broker reads no further: the inner is the worker's and the requester's
    business.  */
int pingyi_frame_type (const uint8_t *frame, size_t len);
/*  Whether a frame of type `answer` may answer a request of type `request`:
    SUBMIT → ACK; VENUE_OPEN, VENUE_CLOSE → VENUE_STATUS; TALLY_QUERY →
    SNAPSHOT; STATS_QUERY → STATS; and RETRY or ERROR to any of them.  */
bool pingyi_answers (int request, int answer);

#endif
