/*  link.h — a DEALER connected to a broker over CURVE, set up the one way
    every pingyi peer (venue client, worker, aggregator, operator tools) needs:
    - CURVE client with the broker's public key, so the link is encrypted and
      the broker knows who we are (the key fixes our role);
    - ZMQ_IMMEDIATE, so nothing queues on a connection that is not up (a
      message queued on a dead pipe is a message silently in limbo);
    - explicit high-water marks and ZMQ_MAXMSGSIZE = PINGYI_FRAME_MAX;
    - no ZMTP heartbeat (libzmq 4.3.4 can abort a broker on a PING read
      from stopped input: link.c); the application's HEARTBEAT and each
      program's silence timer notice a dead peer, TCP keepalive one gone
      without a FIN;
    - LINGER 0 by default: unsent requests are the sender's to resend, never
      the socket's to flush at exit (a worker lingers briefly so the acks of
      its last committed batch still go out on SIGTERM).  */
#ifndef PINGYI_LINK_H
#define PINGYI_LINK_H

#include "common.h"

typedef struct {
    int hwm;          /* SNDHWM and RCVHWM, messages (0: 10000) */
    int reconnect_ms; /* ZMQ_RECONNECT_IVL (0: 100); max is 20x */
    int linger_ms;    /* ZMQ_LINGER (0: none) */
} pingyi_link_options_t;

/*  A connected DEALER, or NULL with err.  opts may be NULL.  */
void *pingyi_link_dealer (void *ctx, const char *endpoint, const uint8_t broker_public[PINGYI_KEY_LEN],
                          const uint8_t my_public[PINGYI_KEY_LEN], const uint8_t my_secret[PINGYI_KEY_LEN],
                          const pingyi_link_options_t *opts, char *err);

#endif
