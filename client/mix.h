/*  mix.h — keeping the order of voting out of what a venue client sends
    and stores (DESIGN.md, invariant 6; docs/client.md, "Mixing").

    Two ways in, two mixes:

    - Live input (standard input, a pipe, a FIFO, a scanner's device:
      ballots arrive one at a time, as people vote).  Each ballot is sealed
      at once and committed to the outbox's pool (durable, never plaintext
      on disk), where it waits, unsent.  When the pool holds k ballots or
      more (k = the definition's k_anonymity) the whole pool is let go at
      once, in a uniformly random order, and sent.  What is left goes the
      same way at the end of the input, or when the operator asks
      (SIGUSR1).  The pool survives a restart: it is in the outbox.

    - File input (a regular file, and the drill generator).  The ballots of
      a window -- the whole file when it fits PINGYI_WINDOW_BYTES, else
      windows of that size and never fewer than k x 100 ballots -- are
      encoded, kept in memory (sodium_malloc, wiped), shuffled, sealed in the
      shuffled order and taken into the outbox in ONE transaction with the
      advance of the input's record count, so a restart skips exactly what
      was taken and never seals a ballot twice; then they are sent in that
      order.

    The ballot ids are random anyway, and LMDB keeps pending envelopes in id
    order; what the mix adds is that neither the order envelopes are sealed
    and committed in, nor the order they leave in, follows the order of
    voting, except that a ballot's group (live input: the ballots that came
    between two releases, at least k of them; files: its window) is known.  */
#ifndef PINGYI_CLIENT_MIX_H
#define PINGYI_CLIENT_MIX_H

#include "common.h"
#include "outbox.h"

#define PINGYI_WINDOW_BYTES (64u << 20) /* a file window's default memory budget */
#define PINGYI_WINDOW_PER_K 100         /* a file window is never smaller than k x this */

/*  A uniformly random permutation, in place, of n items of size bytes each
    (Fisher-Yates with randombytes_uniform, so no modulo bias; n < 2^32).  */
void pingyi_shuffle (void *items, size_t n, size_t size);

/*  The pool's rule: let it go when it holds at least k ballots (k 0 counts
    as 1).  */
bool pingyi_pool_due (uint64_t pooled, uint32_t k);

/*  Let the whole pool go: empty it in one outbox transaction and hand back
    its ids (malloc'd, 16 bytes each, *count of them) in a uniformly random
    order, to be queued for sending in that order.  0 / -1.  */
int pingyi_pool_release (pingyi_outbox_t *outbox, uint8_t **ids, size_t *count, char *err) PINGYI_WARN_UNUSED;

/*  The number of ballots in a file window: requested when not 0 (the
    caller checks it is at least k x PINGYI_WINDOW_PER_K), else as many as
    PINGYI_WINDOW_BYTES holds at per_ballot bytes each, but at least
    k x PINGYI_WINDOW_PER_K.  */
size_t pingyi_window_size (uint32_t k, size_t per_ballot, uint64_t requested);

/*  A file window: plaintext ballot bodies in memory from sodium_malloc
    (locked out of swap where RLIMIT_MEMLOCK allows, never in a core dump,
    guard pages) and wiped when it is let go of.  Bodies are added in input order, shuffled, then read (and
   wiped one by one as they are sealed) in the shuffled order.  */
typedef struct pingyi_window_t pingyi_window_t;

pingyi_window_t *pingyi_window_new (void);
/*  Wipes everything.  */
void pingyi_window_destroy (pingyi_window_t **self_p);
/*  Copy one body in.  0, or -1 when out of memory.  */
int pingyi_window_add (pingyi_window_t *self, const uint8_t *body, size_t len) PINGYI_WARN_UNUSED;
size_t pingyi_window_count (const pingyi_window_t *self);
/*  Total bytes of the bodies held.  */
size_t pingyi_window_bytes (const pingyi_window_t *self);
/*  Put the bodies in a uniformly random order.  */
void pingyi_window_shuffle (pingyi_window_t *self);
/*  The i-th body in the current order (NULL once wiped).  */
const uint8_t *pingyi_window_body (const pingyi_window_t *self, size_t i, size_t *len);
/*  Wipe the i-th body (once it is sealed).  */
void pingyi_window_wipe (pingyi_window_t *self, size_t i);
/*  Wipe every body; the window is empty again (its memory is kept).  */
void pingyi_window_clear (pingyi_window_t *self);

#endif
