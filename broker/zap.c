/*  zap.c — ZAP (RFC 27) handler answering CURVE handshakes from the keyring.
    See zap.h for why it must exist.  It runs in the broker's own thread: the
    I/O thread waits for the reply asynchronously, so answering from the main
    poll loop never blocks libzmq.  */
#define _GNU_SOURCE
#include "zap.h"

#include <stdlib.h>
#include <string.h>
#include <zmq.h>

struct pingyi_zap_t {
    void *socket;
    const pingyi_keyring_t *keyring;
    pingyi_zap_refused_fn *on_refused;
    void *arg;
    uint64_t allowed;
    uint64_t denied;
};

pingyi_zap_t *
pingyi_zap_new (void *ctx, const pingyi_keyring_t *keyring, pingyi_zap_refused_fn *on_refused, void *arg,
                char *err)
{
    pingyi_zap_t *self = calloc (1, sizeof *self);
    if (!self) {
        pingyi_fail (err, "out of memory");
        return NULL;
    }
    self->keyring = keyring;
    self->on_refused = on_refused;
    self->arg = arg;
    self->socket = zmq_socket (ctx, ZMQ_ROUTER);
    int linger = 0;
    if (!self->socket || zmq_setsockopt (self->socket, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_bind (self->socket, "inproc://zeromq.zap.01")) {
        pingyi_fail (err, "ZAP handler: cannot bind inproc://zeromq.zap.01: %s", zmq_strerror (zmq_errno ()));
        pingyi_zap_destroy (&self);
        return NULL;
    }
    return self;
}

void
pingyi_zap_destroy (pingyi_zap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    if ((*self_p)->socket)
        zmq_close ((*self_p)->socket);
    free (*self_p);
    *self_p = NULL;
}

void *
pingyi_zap_socket (pingyi_zap_t *self)
{
    return self->socket;
}

uint64_t
pingyi_zap_allowed (const pingyi_zap_t *self)
{
    return self->allowed;
}

uint64_t
pingyi_zap_denied (const pingyi_zap_t *self)
{
    return self->denied;
}

bool
pingyi_zap_user_parse (const char *user_id, pingyi_role_t *role, const char **name, size_t *name_len)
{
    if (!user_id)
        return false;
    const char *colon = strchr (user_id, ':');
    if (!colon)
        return false;
    *role = pingyi_role_parse (user_id, (size_t) (colon - user_id));
    *name = colon + 1;
    *name_len = strlen (colon + 1);
    return *role != PINGYI_ROLE_NONE && *name_len <= PINGYI_NAME_MAX;
}

/*  A request is [routing id][empty][version][request id][domain][address]
    [identity][mechanism][credentials...]; answer [routing id][empty]["1.0"]
    [request id][status][text][user id][metadata].  */
#define ZAP_FRAMES 9

static void
send_frame (void *socket, const void *data, size_t len, bool more)
{
    zmq_send (socket, data, len, more ? ZMQ_SNDMORE : 0);
}

static void
answer (pingyi_zap_t *self, zmq_msg_t *frames, const char *status, const char *text, const char *user)
{
    send_frame (self->socket, zmq_msg_data (&frames[0]), zmq_msg_size (&frames[0]), true);
    send_frame (self->socket, "", 0, true);
    send_frame (self->socket, "1.0", 3, true);
    send_frame (self->socket, zmq_msg_data (&frames[3]), zmq_msg_size (&frames[3]), true);
    send_frame (self->socket, status, strlen (status), true);
    send_frame (self->socket, text, strlen (text), true);
    send_frame (self->socket, user, strlen (user), true);
    send_frame (self->socket, "", 0, false);
}

static void
handle_one (pingyi_zap_t *self)
{
    zmq_msg_t frames[ZAP_FRAMES + 1];
    int count = 0;
    int more = 1;
    while (more) {
        zmq_msg_t scratch;
        zmq_msg_t *m = count < ZAP_FRAMES + 1 ? &frames[count] : &scratch;
        zmq_msg_init (m);
        if (zmq_msg_recv (m, self->socket, 0) < 0) {
            zmq_msg_close (m);
            break;
        }
        more = zmq_msg_more (m);
        if (m == &scratch)
            zmq_msg_close (m);
        else
            count++;
    }
    if (count < 8)
        goto done;
    if (count == ZAP_FRAMES && zmq_msg_size (&frames[7]) == 5 &&
        !memcmp (zmq_msg_data (&frames[7]), "CURVE", 5) && zmq_msg_size (&frames[8]) == PINGYI_KEY_LEN) {
        const pingyi_keyring_entry_t *e = pingyi_keyring_by_curve (self->keyring, zmq_msg_data (&frames[8]));
        /* the broker's own line and shard lines are never a peer: a shard
           line is a box key with "-" for CURVE, and were a CURVE key
           written there it would still not be admitted */
        if (e && e->role != PINGYI_ROLE_BROKER && e->role != PINGYI_ROLE_SHARD && e->has_curve) {
            char user[PINGYI_NAME_MAX + 32];
            snprintf (user, sizeof user, "%s:%s", pingyi_role_name (e->role), e->name);
            answer (self, frames, "200", "OK", user);
            self->allowed++;
            goto done;
        }
        char hex[2 * PINGYI_KEY_LEN + 1];
        pingyi_hex (hex, zmq_msg_data (&frames[8]), PINGYI_KEY_LEN);
        hex[16] = '\0';
        if (self->on_refused)
            self->on_refused (hex, self->arg);
    }
    else if (self->on_refused)
        self->on_refused (NULL, self->arg);
    answer (self, frames, "400", "key not allowed", "");
    self->denied++;
done:
    for (int i = 0; i < count; i++)
        zmq_msg_close (&frames[i]);
}

void
pingyi_zap_handle (pingyi_zap_t *self)
{
    int events;
    size_t len = sizeof events;
    while (zmq_getsockopt (self->socket, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLIN))
        handle_one (self);
}
