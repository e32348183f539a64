/*  tools.h — the subcommands of the `pingyi` admin command.  */
#ifndef PINGYI_TOOLS_H
#define PINGYI_TOOLS_H

#include "common.h"
#include "msg.h"
#include "shard.h"
#include "tally.h"

#include <zmq.h>

int pingyi_cmd_check (int argc, char **argv);
int pingyi_cmd_init (int argc, char **argv);
int pingyi_cmd_gen_election (int argc, char **argv);
int pingyi_cmd_fingerprint (int argc, char **argv);
int pingyi_cmd_tally (int argc, char **argv);
int pingyi_cmd_pubkey (int argc, char **argv);
int pingyi_cmd_stats (int argc, char **argv);
int pingyi_cmd_monitor (int argc, char **argv);
int pingyi_cmd_reopen (int argc, char **argv);
int pingyi_cmd_query (int argc, char **argv);
int pingyi_cmd_log (int argc, char **argv);
int pingyi_cmd_template (int argc, char **argv);

/*  Send req on sock (a DEALER to the broker) and wait until deadline (ms,
    pingyi_now_ms) for the answer carrying tag; heartbeats and other tags
    are skipped.  0 with *frame holding the answer and *msg decoded from it
    (the caller closes frame); -1 with err: no answer in time, or one that
    does not decode (tools/ask.c).  */
int pingyi_tool_ask (void *sock, const pingyi_writer_t *req, uint64_t tag, int64_t deadline, zmq_msg_t *frame,
                     pingyi_msg_t *msg, char *err) PINGYI_WARN_UNUSED;

/*  Read every shard directory of election under data offline and merge
    its counters and venue figures into tally (tools/shards.c).  infos and
    present (shard_count entries each, may be NULL) receive each shard's
    meta and whether its directory exists.  visit (may be NULL) is called
    with each open shard after its merge (the recount uses it).  A missing
    shard directory adds nothing; a missing data directory or a shard that
    cannot be read is an error.  0, or -1 with err naming the shard.  */
/*  A shards' data directory must exist and be a directory.  0 / -1.  */
int pingyi_data_dir_check (const char *data, char *err) PINGYI_WARN_UNUSED;

typedef void (pingyi_shard_visit_fn) (pingyi_shard_t *shard, uint32_t number, void *arg);
int pingyi_read_shards (const pingyi_election_t *election, const char *data, pingyi_tally_t *tally,
                        pingyi_shard_info_t *infos, bool *present, pingyi_shard_visit_fn *visit, void *arg,
                        char *err);

#endif
