/*  link.c — CURVE DEALER set-up shared by every peer of the broker (link.h).  */
#include "link.h"
#include "msg.h"

#include <zmq.h>

static int
set_int (void *sock, int option, int value, const char *name, char *err)
{
    if (zmq_setsockopt (sock, option, &value, sizeof value))
        return pingyi_fail (err, "zmq_setsockopt %s: %s", name, zmq_strerror (zmq_errno ()));
    return 0;
}

void *
pingyi_link_dealer (void *ctx, const char *endpoint, const uint8_t broker_public[PINGYI_KEY_LEN],
                    const uint8_t my_public[PINGYI_KEY_LEN], const uint8_t my_secret[PINGYI_KEY_LEN],
                    const pingyi_link_options_t *opts, char *err)
{
    pingyi_link_options_t o = opts ? *opts : (pingyi_link_options_t){0};
    if (o.hwm <= 0)
        o.hwm = 10000;
    if (o.reconnect_ms <= 0)
        o.reconnect_ms = 100;
    void *sock = zmq_socket (ctx, ZMQ_DEALER);
    if (!sock) {
        pingyi_fail (err, "zmq_socket: %s", zmq_strerror (zmq_errno ()));
        return NULL;
    }
    int64_t maxmsg = PINGYI_FRAME_MAX;
    if (zmq_setsockopt (sock, ZMQ_CURVE_SERVERKEY, broker_public, PINGYI_KEY_LEN) ||
        zmq_setsockopt (sock, ZMQ_CURVE_PUBLICKEY, my_public, PINGYI_KEY_LEN) ||
        zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, my_secret, PINGYI_KEY_LEN) ||
        zmq_setsockopt (sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg)) {
        pingyi_fail (err, "CURVE socket options: %s", zmq_strerror (zmq_errno ()));
        goto fail;
    }
    if (set_int (sock, ZMQ_IMMEDIATE, 1, "IMMEDIATE", err) ||
        set_int (sock, ZMQ_LINGER, o.linger_ms, "LINGER", err) ||
        set_int (sock, ZMQ_SNDHWM, o.hwm, "SNDHWM", err) ||
        set_int (sock, ZMQ_RCVHWM, o.hwm, "RCVHWM", err) ||
        /* No ZMTP heartbeat (ZMQ_HEARTBEAT_IVL): libzmq 4.3.4 answers a
           PING by writing at once, and asserts (!_io_error,
           stream_engine_base.cpp:331) when the PING is read from input the
           peer had stopped because its receive pipe was full, which is how
           a busy or resumed broker met its peers' pings (test_broker_hang).
           Liveness is the application's HEARTBEAT and each program's
           silence timer; TCP keepalive finds a broker gone without a FIN.  */
        set_int (sock, ZMQ_TCP_KEEPALIVE, 1, "TCP_KEEPALIVE", err) ||
        set_int (sock, ZMQ_TCP_KEEPALIVE_IDLE, 10, "TCP_KEEPALIVE_IDLE", err) ||
        set_int (sock, ZMQ_TCP_KEEPALIVE_INTVL, 2, "TCP_KEEPALIVE_INTVL", err) ||
        set_int (sock, ZMQ_TCP_KEEPALIVE_CNT, 3, "TCP_KEEPALIVE_CNT", err) ||
        set_int (sock, ZMQ_RECONNECT_IVL, o.reconnect_ms, "RECONNECT_IVL", err) ||
        set_int (sock, ZMQ_RECONNECT_IVL_MAX, 20 * o.reconnect_ms, "RECONNECT_IVL_MAX", err))
        goto fail;
    if (zmq_connect (sock, endpoint)) {
        pingyi_fail (err, "cannot connect to %s: %s", endpoint, zmq_strerror (zmq_errno ()));
        goto fail;
    }
    return sock;
fail:
    zmq_close (sock);
    return NULL;
}
