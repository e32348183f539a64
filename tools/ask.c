/*  ask.c — one request of an operator's tool to the broker, and its answer.

    `pingyi stats` and `pingyi reopen` talk to the broker the same way: a
    DEALER with ZMQ_IMMEDIATE (so a send waits for the CURVE handshake and
    is retried until it goes), then the first answer that carries the
    request's tag; heartbeats and answers to other tags are skipped.  */
#include "tools.h"

int
pingyi_tool_ask (void *sock, const pingyi_writer_t *req, uint64_t tag, int64_t deadline, zmq_msg_t *frame,
                 pingyi_msg_t *msg, char *err)
{
    bool sent = false;
    while (pingyi_now_ms () < deadline) {
        if (!sent)
            sent = zmq_send (sock, req->sbuf.data, req->sbuf.size, ZMQ_DONTWAIT) >= 0;
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&item, 1, sent ? 100 : 20) <= 0)
            continue;
        zmq_msg_init (frame);
        if (zmq_msg_recv (frame, sock, 0) < 0) {
            zmq_msg_close (frame);
            continue;
        }
        char why[PINGYI_ERR_MAX];
        if (pingyi_msg_decode (zmq_msg_data (frame), zmq_msg_size (frame), msg, why)) {
            zmq_msg_close (frame);
            return pingyi_fail (err, "bad reply: %s", why);
        }
        uint64_t got;
        switch (msg->type) {
        case PINGYI_MSG_STATS:
            got = msg->u.stats.tag;
            break;
        case PINGYI_MSG_SNAPSHOT:
            got = msg->u.snapshot.tag;
            break;
        case PINGYI_MSG_VENUE_STATUS:
            got = msg->u.venue_status.tag;
            break;
        case PINGYI_MSG_RETRY:
            got = msg->u.retry.tag;
            break;
        case PINGYI_MSG_ERROR: /* tag 0: the request did not decode */
            got = msg->u.error.tag ? msg->u.error.tag : tag;
            break;
        default:
            got = tag + 1; /* a heartbeat: not an answer */
        }
        if (got == tag)
            return 0;
        zmq_msg_close (frame);
    }
    return pingyi_fail (err, "no answer in time");
}
