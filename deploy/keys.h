/*  keys.h — key files, the keyring, and the deploy directory.

    Keys are X25519 (CURVE and crypto_box alike), 32 bytes, stored as one line
    of 64 lowercase hex digits.  A secret key file must be mode 0600 (or
    stricter) and is refused otherwise, with a message naming the file and
    the fix.  Public keys of every party are listed in keyring.tsv, one per
    line:  role <TAB> name <TAB> curve-public-hex|- <TAB> box-public-hex|- [<TAB> shards]
    (role: broker, worker, aggregator, operator, venue, shard).  A worker's
    fifth column lists the shards assigned to its key ("0-3", "0,2,5-7",
    "-"): the broker lets that key own only those, and its bundle holds
    only their secrets.  A shard line ("shard", its number, "-", its box
    public key) is what venues seal to.  The keyring decides who may
    connect, so it is refused when group or others may write it.

    `pingyi init DEFINITION DIR` (deploy/deploy.h) lays out one bundle per host, so each host
    receives only what it needs (docs/keys.md):
        DIR/keyring.tsv, DIR/election.json,
        DIR/election.pub (election box public key)    the public part
        DIR/broker/       curve.secret                 + election.json, keyring.tsv
        DIR/worker/N/     curve.secret, election.secret (the only place the
                                                       election secret lives)
        DIR/aggregator/   curve.secret
        DIR/operator/     curve.secret
        DIR/venue/ID/     curve.secret, box.secret
    Every bundle also holds election.json, keyring.tsv and election.pub.  */
#ifndef PINGYI_KEYS_H
#define PINGYI_KEYS_H

#include "common.h"
#include "msg.h"

/*  Write a secret key file with mode 0600; refuses to overwrite.  */
int pingyi_key_write_secret (const char *path, const uint8_t secret[PINGYI_KEY_LEN],
                             char *err) PINGYI_WARN_UNUSED;
/*  Read a secret key file; refuses one readable or writable by group or
    others: "DIR/venue/v01/box.secret: mode 0644 lets others read this secret
    key; run: chmod 600 DIR/venue/v01/box.secret".  */
int pingyi_key_read_secret (const char *path, uint8_t secret[PINGYI_KEY_LEN], char *err) PINGYI_WARN_UNUSED;
/*  Open a secret file for reading, the one place the rule of secret files
    is written: a regular file (a FIFO planted there is refused, never
    waited on), owned by this process's user, that group and others cannot
    access at all.  The descriptor, or -1 with err: "PATH: mode 0644 lets
    others read this WHAT; run: chmod 600 PATH" (what: "secret key",
    "secret"), "PATH: owned by uid 0, not by this process's user ...",
    "PATH: not a regular file", "PATH: cannot open: ...".  */
int pingyi_secret_open (const char *path, const char *what, char *err) PINGYI_WARN_UNUSED;
/*  pingyi_secret_open, then read at most cap bytes into buf (*got of them;
    ask one more than a valid file holds to see a longer one) and close.
    0, or -1 with err ("PATH: cannot read: ...").  The caller wipes buf.  */
int pingyi_secret_read (const char *path, const char *what, char *buf, size_t cap, size_t *got,
                        char *err) PINGYI_WARN_UNUSED;
/*  The public key of an X25519 secret key.  */
void pingyi_key_public (uint8_t public_key[PINGYI_KEY_LEN], const uint8_t secret[PINGYI_KEY_LEN]);

typedef struct {
    pingyi_role_t role;
    char name[PINGYI_NAME_MAX + 1];
    uint8_t curve[PINGYI_KEY_LEN];
    bool has_curve;
    uint8_t box[PINGYI_KEY_LEN];
    bool has_box;
    uint8_t shards[32]; /* worker: bit s set = shard s assigned to this key */
} pingyi_keyring_entry_t;

/*  A file that decides who may connect or what is counted (keyring,
    definition): refused when group or others may write it, or when it
    belongs to another user than this process's (or root).  0 / -1.  */
int pingyi_check_trusted_file (const char *path, char *err) PINGYI_WARN_UNUSED;

/*  Shard lists as in the keyring's fifth column: "0-3,6" or "-" (none).  */
int pingyi_shard_list_parse (const char *s, size_t len, uint8_t shards[32], char *err) PINGYI_WARN_UNUSED;
void pingyi_shard_list_format (char *out, size_t cap, const uint8_t shards[32]);

/*  Whether a worker entry is assigned shard s.  */
bool pingyi_keyring_assigned (const pingyi_keyring_entry_t *e, uint32_t shard);

typedef struct pingyi_keyring_t pingyi_keyring_t;

/*  Load keyring.tsv; every bad line is an error naming FILE:LINE.  */
pingyi_keyring_t *pingyi_keyring_load (const char *path, char *err) PINGYI_WARN_UNUSED;
void pingyi_keyring_destroy (pingyi_keyring_t **self_p);
size_t pingyi_keyring_size (const pingyi_keyring_t *self);
const pingyi_keyring_entry_t *pingyi_keyring_at (const pingyi_keyring_t *self, size_t index);
/*  By CURVE public key (what ZAP hands the broker); NULL if unknown.  */
const pingyi_keyring_entry_t *pingyi_keyring_by_curve (const pingyi_keyring_t *self,
                                                       const uint8_t curve[PINGYI_KEY_LEN]);
/*  A shard's box public key (its "shard" line), or NULL.  */
const uint8_t *pingyi_keyring_shard_public (const pingyi_keyring_t *self, uint32_t shard);
/*  By role and name (name NULL matches the first of that role).  */
const pingyi_keyring_entry_t *pingyi_keyring_find (const pingyi_keyring_t *self, pingyi_role_t role,
                                                   const char *name);

#endif
