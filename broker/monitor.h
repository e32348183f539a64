/*  monitor.h — what the broker tracks for MONITOR (docs/PROTOCOL.md §3, 19;
    docs/broker.md "What the monitor sees"): per venue and per worker key,
    the traffic it routes anyway, with names.  Soft state like the rest: a
    restarted broker starts from zero.  Counts only, never what a ballot
    says: envelopes in, ACK results by status, RETRYs, the venue's state as
    the last VENUE_STATUS it relayed said; a venue's counts leave the broker
    rounded down to a multiple of the election's k while it is open.  */
#ifndef PINGYI_BROKER_MONITOR_H
#define PINGYI_BROKER_MONITOR_H

#include "election.h"
#include "keys.h"
#include "msg.h"
#include "routes.h"

typedef struct pingyi_monitor_t pingyi_monitor_t;

/*  One refusal cause for the MONITOR's map: the broker's counter.  */
typedef struct {
    const char *name;
    uint64_t value;
} pingyi_monitor_count_t;

pingyi_monitor_t *pingyi_monitor_new (const pingyi_election_t *election, const pingyi_keyring_t *keyring,
                                      const char *version, int64_t now_ms);
void pingyi_monitor_destroy (pingyi_monitor_t **self_p);

/*  A frame from a venue key (sender = its name) on connection route / fd
    (ZMQ_SRCFD, -1 when unknown).  */
void pingyi_monitor_venue_heard (pingyi_monitor_t *self, const char *sender, size_t sender_len, const uint8_t *route,
                                 size_t route_len, int fd, int64_t now_ms);
/*  envelopes of a SUBMIT a venue sent, accepted for routing.  */
void pingyi_monitor_venue_submit (pingyi_monitor_t *self, const char *sender, size_t sender_len,
                                  uint64_t envelopes);
/*  A frame the broker sent to route (its own answer or a relayed one): a
    RETRY counts against the venue of that connection; a relayed ACK
    counts its results by status; a VENUE_STATUS sets the venue's state.  */
void pingyi_monitor_sent (pingyi_monitor_t *self, const uint8_t *route, size_t route_len, const uint8_t *frame,
                          size_t len);
/*  The route was found gone (EHOSTUNREACH).  */
void pingyi_monitor_route_gone (pingyi_monitor_t *self, const uint8_t *route, size_t route_len);
/*  A connection closed (the socket monitor's DISCONNECTED, with its fd).  */
void pingyi_monitor_disconnected (pingyi_monitor_t *self, int fd);

/*  Workers: a request forwarded to the connection `serial` of worker
    `name` (envelopes when it was a SUBMIT); one of its tickets closed
    (answered or expired); the worker dropped (its tickets all released).  */
void pingyi_monitor_forwarded (pingyi_monitor_t *self, const char *name, uint64_t serial, uint64_t envelopes);
void pingyi_monitor_ticket_done (pingyi_monitor_t *self, uint64_t serial);
void pingyi_monitor_worker_dropped (pingyi_monitor_t *self, pingyi_routes_t *routes, const pingyi_route_t *w,
                                    int64_t now_ms);
/*  Note which shards have no owner now (when they lost it); call after
    ownership may have changed (each heartbeat tick does).  */
void pingyi_monitor_shards_check (pingyi_monitor_t *self, pingyi_routes_t *routes, int64_t now_ms);

/*  Write the MONITOR answering a MONITOR_QUERY (tag, from) into w.  */
void pingyi_monitor_write (pingyi_monitor_t *self, pingyi_writer_t *w, uint64_t tag, uint32_t from,
                           pingyi_routes_t *routes, const pingyi_monitor_count_t *refusals, size_t refusal_count,
                           int64_t now_ms);

/*  n rounded down to a multiple of k (k 0 or 1: n).  */
static inline uint64_t
pingyi_monitor_round (uint64_t n, uint32_t k)
{
    return k > 1 ? n - n % k : n;
}

#endif
