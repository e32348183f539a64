/*  ingest.h — taking a venue's ballots into its outbox (docs/client.md,
    "Mixing" and "Exactly once"): read records from the input (or the drill
    generator), skip those an earlier run took (checking by digest that the
    input is the same), encode and seal the good ones, commit them to the
    outbox, and hand their ids to the send queue.

    - Live input (anything but a regular file): each ballot is sealed at
      once; a chunk of up to PINGYI_INGEST_CHUNK is committed to the
      outbox's mixing pool, which is let go (ids queued in random order)
      when it holds k or more, at the end of the input, or on request.
    - File input and the generator: the bodies of a window are held in
      locked memory, shuffled, sealed in that order and committed in ONE
      transaction with the window's records (good and bad), then queued.

    Bad records are said through the bad_line hook (FILE:LINE:COLUMN:
    reason), counted in the outbox, never taken.  No socket, no signal: the
    caller polls the input's descriptor and calls pingyi_ingest_step when it
    is readable (tests/unit/test_client_ingest.c drives it alone).  */
#ifndef PINGYI_CLIENT_INGEST_H
#define PINGYI_CLIENT_INGEST_H

#include "common.h"
#include "election.h"
#include "generate.h"
#include "input.h"
#include "outbox.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PINGYI_INGEST_CHUNK 1000        /* live input: records per outbox commit; records per step */
#define PINGYI_INGEST_SKIP_BUDGET 20000 /* records skipped per step, so the socket is still served */
#define PINGYI_INGEST_ERR_MAX 1024      /* a fatal error's text */

typedef struct {
    void *arg;
    /*  An id taken into the outbox and let go: queue it to send.  -1 when
        out of memory.  */
    int (*queue) (void *arg, const uint8_t *id);
    /*  A bad record of this run (not one an earlier run took).  */
    void (*bad_line) (void *arg, const char *line);
    /*  Something the operator may like to know (the pool let go, records
        skipped).  */
    void (*info) (void *arg, const char *text);
    /*  Ballots were taken into the outbox (may be NULL).  */
    void (*committed) (void *arg);
} pingyi_ingest_hooks_t;

typedef struct {
    const pingyi_election_t *election;
    size_t venue;
    const uint8_t *key;      /* the envelope key, 32 bytes (pingyi_envelope_key) */
    pingyi_outbox_t *outbox; /* open; its input_consumed records are skipped */
    const char *outbox_dir;  /* for messages */
    /*  One source: an input with the descriptor its bytes are read from
        (named input_name in messages), or a generator.  Both the caller's:
        borrowed until pingyi_ingest_destroy; the input's error function is
        set to the ingest's own.  */
    pingyi_input_t *input;
    int input_fd;
    const char *input_name;
    pingyi_generator_t *gen;
    uint64_t shuffle_window; /* ballots per file window; 0: as memory allows */
    pingyi_ingest_hooks_t hooks;
} pingyi_ingest_config_t;

typedef struct pingyi_ingest_t pingyi_ingest_t;

/*  NULL when out of memory.  */
pingyi_ingest_t *pingyi_ingest_new (const pingyi_ingest_config_t *config);
/*  Wipes what it holds (bodies, envelopes, the ballot).  Safe twice.  */
void pingyi_ingest_destroy (pingyi_ingest_t **self_p);

/*  Take what the source has now: at most PINGYI_INGEST_CHUNK records (or
    PINGYI_INGEST_SKIP_BUDGET skipped), committing a chunk or a window when
    it is full, and everything at the end of the input.  The first call
    chooses the mix.  0, or -1 with the reason in err (fatal: a different
    input than the outbox took, an input read error, a --shuffle-window
    too small, out of memory).  */
int pingyi_ingest_step (pingyi_ingest_t *self, char err[PINGYI_INGEST_ERR_MAX]) PINGYI_WARN_UNUSED;

/*  Let the mixing pool go now, whatever it holds (SIGUSR1), committing the
    live chunk first.  0, or -1 with err.  */
int pingyi_ingest_flush (pingyi_ingest_t *self, char err[PINGYI_INGEST_ERR_MAX]) PINGYI_WARN_UNUSED;

/*  The whole input is taken (and the pool let go).  */
bool pingyi_ingest_done (const pingyi_ingest_t *self);
/*  Records may be had without waiting for the input's descriptor; false
    after a step found nothing readable: poll, then pingyi_ingest_ready.  */
bool pingyi_ingest_ready (const pingyi_ingest_t *self);
void pingyi_ingest_set_ready (pingyi_ingest_t *self);
/*  Live input (through the mixing pool); known after the first step.  */
bool pingyi_ingest_live (const pingyi_ingest_t *self);

#endif
