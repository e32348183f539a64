/*  zap.h — the broker's ZAP handler: who may connect, and as whom.

    libzmq asks a ZAP handler (RFC 27) about every CURVE handshake, over
    inproc://zeromq.zap.01 in the *same context* as the server socket.  With
    no handler there, CURVE accepts every client key (ZAP fails open), so the
    handler is bound before the broker's socket, ZMQ_ZAP_ENFORCE_DOMAIN is set
    on the socket, and a test proves an unknown key is refused.

    A key found in the keyring is allowed with User-Id "ROLE:NAME" (e.g.
    "venue:v01", "worker:2"); every message from that connection then carries
    it as the "User-Id" property, which is how the broker knows the sender.  */
#ifndef PINGYI_ZAP_H
#define PINGYI_ZAP_H

#include "keys.h"

typedef struct pingyi_zap_t pingyi_zap_t;

/*  Told of each refused handshake: key_hex the first 16 hex digits of the
    client's CURVE key, NULL when it was not a CURVE handshake.  The caller
    decides what to log (the broker: rate-limited, notes.h).  */
typedef void (pingyi_zap_refused_fn) (const char *key_hex, void *arg);

/*  Bind the handler in ctx; on_refused (may be NULL) hears of every
    refusal.  NULL with err.  */
pingyi_zap_t *pingyi_zap_new (void *ctx, const pingyi_keyring_t *keyring, pingyi_zap_refused_fn *on_refused,
                              void *arg, char *err);
void pingyi_zap_destroy (pingyi_zap_t **self_p);
/*  The handler's socket, to poll for ZMQ_POLLIN.  */
void *pingyi_zap_socket (pingyi_zap_t *self);
/*  Answer every pending request (call when the socket is readable).  */
void pingyi_zap_handle (pingyi_zap_t *self);
uint64_t pingyi_zap_allowed (const pingyi_zap_t *self);
uint64_t pingyi_zap_denied (const pingyi_zap_t *self);

/*  Split a User-Id "role:name" into role and name; false if malformed.  */
bool pingyi_zap_user_parse (const char *user_id, pingyi_role_t *role, const char **name, size_t *name_len);

#endif
