/*  deploy.h — the deploy directory: creating it (`pingyi init`) and loading
    one host's bundle from it.  The layout is described in deploy/keys.h and
    docs/keys.md.  A process names its bundle by role (and worker number or
    venue id); loading checks that the bundle's election.json has the same
    fingerprint as the keyring's directory, and that secret files are 0600.  */
#ifndef PINGYI_DEPLOY_H
#define PINGYI_DEPLOY_H

#include "election.h"
#include "keys.h"

/*  Create DIR with keys for every shard, the broker, `workers` workers
    (shards assigned in consecutive blocks, written in the keyring), the
    aggregator, one operator, every venue of the definition, and the
    recount bundle.  Refuses an existing DIR before writing anything.
    Atomic: everything is written into DIR.tmp-XXXXXX beside DIR, synced,
    and renamed to DIR at the end; on failure, or SIGINT / SIGTERM / SIGHUP
    meanwhile (the signal is raised again once the temporary directory is
    removed), nothing is left behind.  */
int pingyi_deploy_init (const char *definition_path, const char *dir, unsigned workers,
                        char *err) PINGYI_WARN_UNUSED;

/*  Write one archive per venue into OUT (created 0700; refused if it
    exists; atomic like pingyi_deploy_init): OUT/ID.tar, mode 0600, holding the folder ID/ of the venue's
    bundle in DIR (its extract of the definition, three keyring lines, its
    two secrets) with their modes.  `tar xf ID.tar` on the venue host gives
    the folder that pingyi-client --deploy ID --venue ID takes.  */
int pingyi_deploy_venue_archives (const char *dir, const char *out, char *err) PINGYI_WARN_UNUSED;

typedef struct {
    pingyi_role_t role;
    char name[PINGYI_NAME_MAX + 1]; /* venue id, worker number, "broker", ... */
    char path[1024];                /* the bundle directory */
    pingyi_election_t *election;
    pingyi_keyring_t *keyring;
    uint8_t curve_secret[PINGYI_KEY_LEN];
    uint8_t curve_public[PINGYI_KEY_LEN];
    uint8_t broker_public[PINGYI_KEY_LEN]; /* the broker's CURVE server key */
    uint8_t box_secret[PINGYI_KEY_LEN];    /* venue: its box key */
    bool has_box_secret;
    uint8_t shard_public[PINGYI_KEY_LEN]; /* venue: the box key of its shard (what it seals to) */
    uint8_t shard_secrets[256][PINGYI_KEY_LEN]; /* worker, recount: the secrets of its shards */
    uint8_t shards[32];                         /* bit s: shard_secrets[s] is loaded */
} pingyi_bundle_t;

/*  Load DIR's bundle for role/name: DIR/broker, DIR/worker/NAME,
    DIR/aggregator, DIR/operator, DIR/venue/NAME, and for PINGYI_ROLE_SHARD
    the offline recount's bundle DIR/recount (every shard secret, no
    network key).  NULL with err.  */
pingyi_bundle_t *pingyi_bundle_load (const char *dir, pingyi_role_t role, const char *name,
                                     char *err) PINGYI_WARN_UNUSED;
/*  Whether the bundle holds shard s's secret.  */
bool pingyi_bundle_has_shard (const pingyi_bundle_t *self, uint32_t shard);
/*  Wipes the secrets.  */
void pingyi_bundle_destroy (pingyi_bundle_t **self_p);

#endif
