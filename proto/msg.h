/*  msg.h — the pingyi wire protocol, version 3 (docs/PROTOCOL.md).

    Every message is one ZeroMQ frame holding one msgpack array:
        [ version:uint = 3, type:uint, fields... ]
    Peers talk DEALER → broker ROUTER, so the broker sees [routing-id][frame].
    The broker wraps what it passes on in FORWARD (carrying the sender's
    authenticated role and name, and its routing id), and a worker answers in
    REPLY (the routing id and the inner frame); so workers see who sent what
    although they never see the original connection.

    Decoding is strict: exact types, bounded lengths, unknown version or type
    refused, no trailing bytes; each failure gives a reason with the field
    name, e.g. "SUBMIT.envelopes[3]: expected bin, got str".  Decoded strings
    and bins point into the frame: keep it alive while the message is used.
    Variable-length lists are validated whole at decode time and then walked
    with the pingyi_list_next_* functions, which cannot fail.  */
#ifndef PINGYI_MSG_H
#define PINGYI_MSG_H

#include "common.h"
#include "mp.h"
#include "reject.h"

#define PINGYI_PROTO_VERSION 3
#define PINGYI_FRAME_MAX (2u << 20)         /* ZMQ_MAXMSGSIZE on every socket (docs/broker.md "Frame limits") */
#define PINGYI_ENVELOPE_MAX 4600            /* one envelope, bytes (a longer one is rejected bad_envelope) */
#define PINGYI_BATCH_MAX 4096               /* envelopes in one SUBMIT, results in one ACK */
#define PINGYI_NAME_MAX 64                  /* role names, venue ids */
#define PINGYI_TEXT_MAX 512                 /* reason texts */
#define PINGYI_STATS_MAX 256                /* entries in a STATS reply */
#define PINGYI_SHARDS_LISTED_MAX 256        /* shards in HELLO / READY */
#define PINGYI_ROUTE_MAX 256                /* a ZeroMQ routing id, bytes (the broker's own bookkeeping) */
#define PINGYI_SNAPSHOT_VENUES_MAX 65535    /* venue figures in one SNAPSHOT */
#define PINGYI_SNAPSHOT_BLOCKS_MAX 65535      /* count blocks in one SNAPSHOT page */
/*  Largest count block on the wire: 16 items × 32 categories × (32 choices
    + BLANK + OVER) cells of u32 (election/count.h bounds it exactly).  */
#define PINGYI_BLOCK_BYTES_MAX (16 * 32 * 34 * 4)
#define PINGYI_BLOCK_KEY_BYTES 4 /* a count block's key on the wire: venue u16 BE, subject u16 BE */
#define PINGYI_FIGURES_CATEGORIES 32        /* by_category entries at most (PINGYI_MAX_CATEGORIES) */
#define PINGYI_LINK_MAC_LEN 16              /* the end-to-end MAC of ACK, VENUE_STATUS, VENUE_CLOSE */
/*  Largest frame a peer may hand the broker: the broker wraps it in FORWARD
    (or REPLY) whose own header costs under 100 bytes (a 64-byte sender, a
    9-byte ticket, a bin32 header; 1024 are reserved), and the wrapped frame
    must still fit PINGYI_FRAME_MAX at the receiving socket.  */
#define PINGYI_INNER_MAX (PINGYI_FRAME_MAX - 1024)
/*  The largest frame of each kind a peer hands the broker, which refuses a
    larger one unread (docs/broker.md "Frame limits").  Only SUBMIT (the C
    client's largest, 453 envelopes of 4 600 bytes: 2.09 MB) and REPLY (a
    SNAPSHOT page, or the answer to a full SUBMIT) need the whole frame; HELLO (256 shards of at
    most 5 bytes), HEARTBEAT, VENUE_OPEN / CLOSE / REOPEN (a 512-byte
    reason at most), TALLY_QUERY and STATS_QUERY need a few hundred bytes.
    Every kind fits PINGYI_INNER_MAX, so that a refusal is never bigger
    than what the broker can wrap.  */
#define PINGYI_CONTROL_FRAME_MAX 4096u
#define PINGYI_SUBMIT_FRAME_MAX PINGYI_INNER_MAX
#define PINGYI_REPLY_FRAME_MAX PINGYI_INNER_MAX

/*  A SNAPSHOT page: count blocks of at most PINGYI_SNAPSHOT_CELL_BYTES of
    cells in all (at least one block), and every venue of the shard with
    its figures.  On the wire a block costs at most 12 bytes besides its
    cells (array header, venue and subject as uint16, a bin32 header); one
    venue's figures at most PINGYI_FIGURES_WIRE_MAX (c) bytes with c rater
    categories (array, venue uint32, four uint64, a map of 15 reject codes
    with uint64 counts, three int64, a bool, c uint64, reopens uint32).
    pingyi_snapshot_venues_max (c, block_bytes) is how many venues one
    shard may hold so that its SNAPSHOT page fits a REPLY, for blocks of
    block_bytes of cells (0 when not even one block fits); the definition
    check refuses a shard with more (election.c).  */
#define PINGYI_SNAPSHOT_CELL_BYTES (512u << 10)
#define PINGYI_FIGURES_WIRE_MAX(c) (231u + 9u * (uint32_t) (c))
#define PINGYI_SNAPSHOT_FIXED_MAX 1024u /* the SNAPSHOT's own fields, its envelope in REPLY */
static inline uint32_t
pingyi_snapshot_venues_max (uint32_t categories, uint64_t block_bytes)
{
    if (block_bytes == 0)
        block_bytes = 1;
    uint64_t cells = block_bytes > PINGYI_SNAPSHOT_CELL_BYTES ? block_bytes : PINGYI_SNAPSHOT_CELL_BYTES;
    uint64_t blocks_wire = cells + 12u * (cells / block_bytes);
    uint64_t room = (uint64_t) PINGYI_REPLY_FRAME_MAX - PINGYI_SNAPSHOT_FIXED_MAX;
    if (blocks_wire >= room)
        return 0;
    return (uint32_t) ((room - blocks_wire) / PINGYI_FIGURES_WIRE_MAX (categories));
}

/*  MONITOR (docs/PROTOCOL.md §3, 19): the broker's own view with names.
    Bounds of its lists, and the most bytes one item can take as the C
    encoder writes it (smallest encodings; a name of 64 bytes is str8, 66
    bytes; a uint64 9 bytes; a nil 1), so that the largest MONITOR fits a
    REPLY whatever the election: every worker key (256 at most) each listing
    256 owned shards, 256 shards, 64 refusal causes, and one page of
    PINGYI_MONITOR_PAGE venues.  */
#define PINGYI_MONITOR_WORKERS_MAX 256
#define PINGYI_MONITOR_SHARDS_MAX 256
#define PINGYI_MONITOR_REFUSALS_MAX 64
#define PINGYI_MONITOR_PAGE 4096
/*  [name, shards (array16 of ≤256 uint8 ≥ 128: 2 bytes each), live, in_flight, envelopes, heartbeat_ms]  */
#define PINGYI_MONITOR_WORKER_WIRE_MAX (1u + 66u + 3u + 256u * 2u + 1u + 9u + 9u + 9u)
/*  [number, owner, unowned_ms]  */
#define PINGYI_MONITOR_SHARD_WIRE_MAX (1u + 2u + 66u + 9u)
/*  name: count  */
#define PINGYI_MONITOR_REFUSAL_WIRE_MAX (66u + 9u)
/*  [id, connected, status, void, reopens, envelopes_in, accepted, duplicate, rejected, retries, last_seen_ms]  */
#define PINGYI_MONITOR_VENUE_WIRE_MAX (1u + 66u + 1u + 1u + 1u + 5u + 5u * 9u + 9u)
/*  array, version, type, tag, uptime, version str, four list headers, more, next  */
#define PINGYI_MONITOR_FIXED_MAX (1u + 1u + 1u + 9u + 9u + 66u + 3u + 3u + 3u + 3u + 1u + 5u)
#define PINGYI_MONITOR_FRAME_WORST                                                                          \
    (PINGYI_MONITOR_FIXED_MAX + PINGYI_MONITOR_WORKERS_MAX * PINGYI_MONITOR_WORKER_WIRE_MAX +                 \
     PINGYI_MONITOR_SHARDS_MAX * PINGYI_MONITOR_SHARD_WIRE_MAX +                                             \
     PINGYI_MONITOR_REFUSALS_MAX * PINGYI_MONITOR_REFUSAL_WIRE_MAX +                                         \
     PINGYI_MONITOR_PAGE * PINGYI_MONITOR_VENUE_WIRE_MAX)

typedef enum {
    PINGYI_MSG_HELLO = 1,         /* worker → broker: the shards it owns */
    PINGYI_MSG_READY = 2,         /* broker → worker: the shards granted */
    PINGYI_MSG_HEARTBEAT = 3,     /* either way */
    PINGYI_MSG_SUBMIT = 4,        /* client → worker: a batch of envelopes of one venue */
    PINGYI_MSG_ACK = 5,           /* worker → client: one result per envelope */
    PINGYI_MSG_RETRY = 6,         /* broker → sender: no owner alive, try later */
    PINGYI_MSG_ERROR = 7,         /* refusal: not authorised, bad message, ... */
    PINGYI_MSG_VENUE_OPEN = 8,    /* client → worker */
    PINGYI_MSG_VENUE_CLOSE = 9,   /* client → worker: issued / collected / sent */
    PINGYI_MSG_VENUE_STATUS = 10, /* worker → client: the venue's reconciliation */
    PINGYI_MSG_TALLY_QUERY = 11,  /* aggregator/operator → worker: a shard's counters */
    PINGYI_MSG_SNAPSHOT = 12,     /* worker → aggregator */
    PINGYI_MSG_STATS_QUERY = 13,  /* operator → broker (shard -1) or worker */
    PINGYI_MSG_STATS = 14,
    PINGYI_MSG_FORWARD = 15,      /* broker → worker: an inner message with its sender */
    PINGYI_MSG_REPLY = 16,        /* worker → broker: an inner message for a routing id */
    PINGYI_MSG_VENUE_REOPEN = 17, /* operator → worker: reopen a closed venue, with a reason */
    PINGYI_MSG_MONITOR_QUERY = 18, /* operator/aggregator → broker: the broker's view, one venue page */
    PINGYI_MSG_MONITOR = 19,       /* broker → operator/aggregator: workers, shards, refusals, venues */
    PINGYI_MSG_TYPE_MAX_ = 19
} pingyi_msg_type_t;

/*  Roles a key may hold (from the deploy keyring).  */
typedef enum {
    PINGYI_ROLE_NONE = 0,
    PINGYI_ROLE_VENUE = 1,
    PINGYI_ROLE_WORKER = 2,
    PINGYI_ROLE_AGGREGATOR = 3,
    PINGYI_ROLE_OPERATOR = 4,
    PINGYI_ROLE_BROKER = 5,
    PINGYI_ROLE_SHARD = 6, /* keyring only: a shard's box public key; never a sender */
} pingyi_role_t;

const char *pingyi_role_name (pingyi_role_t role); /* "venue", ... */
pingyi_role_t pingyi_role_parse (const char *name, size_t len) PINGYI_WARN_UNUSED;
const char *pingyi_msg_type_name (int type); /* "SUBMIT", ... */

typedef enum {
    PINGYI_ACK_ACCEPTED = 0,
    PINGYI_ACK_DUPLICATE = 1,
    PINGYI_ACK_REJECTED = 2,
} pingyi_ack_status_t;

/*  The `reason` of a duplicate result: whether the bytes resent are the
    envelope stored under that ballot id (docs/PROTOCOL.md §6).  */
typedef enum {
    PINGYI_DUPLICATE_SAME = 0,    /* the same bytes: a harmless resend */
    PINGYI_DUPLICATE_DIFFERS = 1, /* other bytes under a ballot id already counted */
} pingyi_duplicate_t;

/*  ERROR codes (pingyi_error_code_t) and reject codes are in reject.h.  */

typedef struct {
    const char *p;
    uint32_t len;
} pingyi_str_t;

typedef struct {
    const uint8_t *p;
    uint32_t len;
} pingyi_bin_t;

/*  A validated list inside a decoded frame.  */
typedef struct {
    const uint8_t *p;
    const uint8_t *end;
    uint32_t count;
    uint32_t index;
} pingyi_list_t;

typedef struct {
    uint8_t ballot_id[PINGYI_BALLOT_ID_LEN];
    uint8_t status;       /* pingyi_ack_status_t */
    uint8_t reason;       /* rejected: pingyi_reject_t; duplicate: pingyi_duplicate_t; accepted: 0 */
    pingyi_str_t text;    /* reason text when rejected, else empty */
    pingyi_str_t receipt; /* tracking code when accepted or duplicate, else empty */
} pingyi_ack_t;

/*  One count block (election/count.h): the released counters of one
    (venue, subject), `len` bytes of u32 LE cells, pointing into the frame.  */
typedef struct {
    uint32_t venue;
    uint32_t subject;
    const uint8_t *cells;
    size_t len;
} pingyi_block_t;

/*  Per-venue figures held by the shard that owns the venue.  */
typedef struct {
    uint32_t venue;           /* venue index */
    uint64_t accepted;        /* ballots counted */
    uint64_t blank;           /* of which blank ballots (空白票) */
    uint64_t duplicates;      /* resends answered "duplicate" */
    uint64_t rejected;        /* all rejections */
    /*  By reject code: index = code; [0] = "other", the codes of
        PINGYI_REJECT_SLOTS and up a receiver has no slot for.  On the wire a
        map {code: count} of the non-zero entries (docs/PROTOCOL.md §3).  */
    uint64_t rejected_by[PINGYI_REJECT_SLOTS];
    int64_t issued;           /* declared at close, -1 until then */
    int64_t collected;        /* declared at close, -1 until then */
    int64_t sent;             /* the client's count of ballots sent, -1 until close */
    bool closed;
    uint32_t category_count;                         /* entries of by_category (the election's categories) */
    uint64_t by_category[PINGYI_FIGURES_CATEGORIES]; /* accepted ballots by rater category */
    uint32_t reopens; /* times an operator reopened the venue after a close (VENUE_REOPEN) */
} pingyi_venue_figures_t;

typedef struct {
    pingyi_str_t name;
    uint64_t value;
} pingyi_stat_t;

/*  A venue's state as the broker last relayed it in a VENUE_STATUS.  */
typedef enum {
    PINGYI_MONITOR_UNSEEN = 0, /* no VENUE_STATUS relayed since the broker started */
    PINGYI_MONITOR_OPEN = 1,
    PINGYI_MONITOR_CLOSED = 2,
} pingyi_monitor_status_t;

/*  One worker key in a MONITOR.  */
typedef struct {
    pingyi_str_t name;
    pingyi_list_t shards; /* uint: the shards it owns now */
    bool live;
    uint64_t in_flight;           /* requests forwarded to it and not answered */
    uint64_t envelopes_forwarded; /* envelopes in SUBMITs forwarded to it since the broker started */
    bool heard;                   /* false: nil on the wire (not heard since the broker started) */
    uint64_t heartbeat_ms;        /* ms since its last frame */
} pingyi_monitor_worker_t;

/*  One shard in a MONITOR.  */
typedef struct {
    uint32_t number;
    pingyi_str_t owner; /* len 0: nil (no live owner) */
    bool unowned;       /* the third field is a number (no owner) */
    uint64_t unowned_ms; /* ms since it lost its owner (or since the broker started) */
} pingyi_monitor_shard_t;

/*  One venue in a MONITOR page.  While the venue is not closed its counts
    are rounded down to a multiple of the election's k (docs/SECURITY.md).  */
typedef struct {
    pingyi_str_t id;
    bool connected; /* a live connection with the venue's key */
    uint8_t status; /* pingyi_monitor_status_t */
    bool is_void;   /* the last VENUE_STATUS relayed: closed with collected > issued */
    uint32_t reopens;
    uint64_t envelopes_in; /* envelopes in its SUBMITs forwarded */
    uint64_t accepted, duplicate, rejected; /* ACK results relayed to it, by status */
    uint64_t retries;                        /* RETRYs it was sent (the broker's and the workers') */
    bool seen;                               /* false: nil (never heard since the broker started) */
    uint64_t last_seen_ms;
} pingyi_monitor_venue_t;

typedef struct {
    int type; /* pingyi_msg_type_t */
    union {
        struct {
            uint8_t fingerprint[PINGYI_FP_LEN];
            pingyi_str_t name;
            pingyi_list_t shards; /* uint */
        } hello;
        struct {
            pingyi_list_t shards; /* uint */
        } ready;
        struct {
            uint64_t tag;
            uint8_t fingerprint[PINGYI_FP_LEN];
            pingyi_str_t venue;
            pingyi_list_t envelopes; /* bin */
        } submit;
        struct {
            uint64_t tag;
            pingyi_list_t results; /* pingyi_ack_t */
        } ack;                     /* + mac */
        struct {
            uint64_t tag;
            uint32_t retry_ms;
            pingyi_str_t reason;
        } retry;
        struct {
            uint64_t tag;
            uint32_t code;
            pingyi_str_t text;
        } error;
        struct {
            uint64_t tag;
            uint8_t fingerprint[PINGYI_FP_LEN];
            pingyi_str_t venue;
        } venue_open;
        struct {
            uint64_t tag;
            uint8_t fingerprint[PINGYI_FP_LEN];
            pingyi_str_t venue;
            uint64_t issued, collected, sent;
        } venue_close; /* + mac */
        struct {
            uint64_t tag;
            pingyi_venue_figures_t figures;
        } venue_status; /* + mac */
        struct {
            uint64_t tag;
            uint8_t fingerprint[PINGYI_FP_LEN];
            pingyi_str_t venue;
            uint32_t number;     /* this reopen's ordinal: the venue's reopens + 1 */
            pingyi_str_t reason; /* 1..PINGYI_TEXT_MAX bytes */
        } venue_reopen;          /* + mac (the operator's reopen key) */
        struct {
            uint64_t tag;
            uint32_t shard;
            uint8_t from[PINGYI_BLOCK_KEY_BYTES]; /* first count block wanted */
        } tally_query;
        struct {
            uint64_t tag;
            uint32_t shard;
            uint32_t shard_count;
            uint8_t fingerprint[PINGYI_FP_LEN];
            uint64_t sequence;      /* ballots in the log at the shard's last settled point */
            uint8_t digest[32];     /* the log digest at that point */
            uint64_t generation;    /* changes whenever anything released changes */
            pingyi_list_t venues;   /* pingyi_venue_figures_t, as released */
            pingyi_list_t blocks;   /* pingyi_block_t, ascending (venue, subject) */
            bool more;
            uint8_t next[PINGYI_BLOCK_KEY_BYTES]; /* when more: ask again from next */
        } snapshot;
        struct {
            uint64_t tag;
            int32_t shard; /* -1: the broker itself */
        } stats_query;
        struct {
            uint64_t tag;
            pingyi_str_t source;
            pingyi_list_t stats; /* pingyi_stat_t */
        } stats;
        struct {
            uint64_t ticket; /* the broker's handle for the answer, 1..2^64-1 */
            uint8_t role;
            pingyi_str_t sender;
            pingyi_bin_t inner;
        } forward;
        struct {
            uint64_t ticket; /* the FORWARD's */
            pingyi_bin_t inner;
        } reply;
        struct {
            uint64_t tag;
            uint32_t from; /* the first venue index of the page wanted */
        } monitor_query;
        struct {
            uint64_t tag;
            uint64_t uptime_ms;
            pingyi_str_t version;
            pingyi_list_t workers;  /* pingyi_monitor_worker_t */
            pingyi_list_t shards;   /* pingyi_monitor_shard_t */
            pingyi_list_t refusals; /* pingyi_stat_t: a map, names ascending */
            pingyi_list_t venues;   /* pingyi_monitor_venue_t */
            bool more;
            uint32_t next; /* when more: ask again from this venue index; else 0 */
        } monitor;
    } u;
    /*  ACK, VENUE_STATUS, VENUE_CLOSE end with a MAC (bin16) over the
        frame's first mac_offset bytes (everything before the MAC field's
        own header); check it with pingyi_msg_mac_check.  */
    uint8_t mac[PINGYI_LINK_MAC_LEN];
    size_t mac_offset;
} pingyi_msg_t;

/*  Decode one frame.  0, or -1 with err naming the field and the reason.  */
int pingyi_msg_decode (const uint8_t *frame, size_t len, pingyi_msg_t *msg, char *err) PINGYI_WARN_UNUSED;

/*  The tag of a request frame, read even when the rest of the frame does
    not decode, so that a refusal can name the request it refuses: the
    frame must be a msgpack array of at least 3 elements starting with
    version PINGYI_PROTO_VERSION and a message type that carries a tag,
    whose third element is a uint.  0 when any of that fails (the tag is
    unreadable: docs/PROTOCOL.md §2).  */
uint64_t pingyi_msg_tag (const uint8_t *frame, size_t len);

/*  Walk a decoded list.  Each returns true and fills the item while items
    remain, false at the end.  */
bool pingyi_list_next_uint (pingyi_list_t *list, uint64_t *v) PINGYI_WARN_UNUSED;
bool pingyi_list_next_bin (pingyi_list_t *list, pingyi_bin_t *v) PINGYI_WARN_UNUSED;
bool pingyi_list_next_ack (pingyi_list_t *list, pingyi_ack_t *v) PINGYI_WARN_UNUSED;
bool pingyi_list_next_block (pingyi_list_t *list, pingyi_block_t *v) PINGYI_WARN_UNUSED;
bool pingyi_list_next_figures (pingyi_list_t *list, pingyi_venue_figures_t *v) PINGYI_WARN_UNUSED;
bool pingyi_list_next_stat (pingyi_list_t *list, pingyi_stat_t *v) PINGYI_WARN_UNUSED;
bool pingyi_list_next_monitor_worker (pingyi_list_t *list, pingyi_monitor_worker_t *v) PINGYI_WARN_UNUSED;
bool pingyi_list_next_monitor_shard (pingyi_list_t *list, pingyi_monitor_shard_t *v) PINGYI_WARN_UNUSED;
bool pingyi_list_next_monitor_venue (pingyi_list_t *list, pingyi_monitor_venue_t *v) PINGYI_WARN_UNUSED;
/*  MONITOR.refusals: a map walked entry by entry (name, count).  */
bool pingyi_list_next_refusal (pingyi_list_t *list, pingyi_stat_t *v) PINGYI_WARN_UNUSED;

/*  Encoders.  Each writes one complete frame into buf (which it clears
    first).  Lists are written by the caller between a _begin and the end of
    the message: e.g. pingyi_msg_submit_begin (…, n) then n envelope bins
    with msgpack_pack_bin / msgpack_pack_bin_body.
    Encoders do not check bounds: the caller passes ids and names that the
    decoder will take (UTF-8, no control character, 1..64 bytes).  Texts for
    people (ack text, RETRY reason, ERROR text) are made decodable here:
    bytes that are not UTF-8 become '?', and they are cut at
    PINGYI_TEXT_MAX bytes on a character boundary.  A writer must not be
    copied (its packer points at its buffer).  */
typedef struct {
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
} pingyi_writer_t;

void pingyi_writer_init (pingyi_writer_t *w);
void pingyi_writer_reset (pingyi_writer_t *w);
void pingyi_writer_fini (pingyi_writer_t *w);

void pingyi_msg_hello_begin (pingyi_writer_t *w, const uint8_t fp[PINGYI_FP_LEN], const char *name,
                             uint32_t shard_count_listed);
/*  then shard_count_listed × msgpack_pack_uint32 */
void pingyi_msg_ready_begin (pingyi_writer_t *w, uint32_t shard_count_listed);
void pingyi_msg_heartbeat (pingyi_writer_t *w);
void pingyi_msg_submit_begin (pingyi_writer_t *w, uint64_t tag, const uint8_t fp[PINGYI_FP_LEN],
                              const char *venue, uint32_t envelope_count);
void pingyi_msg_envelope (pingyi_writer_t *w, const uint8_t *env, size_t len);
void pingyi_msg_ack_begin (pingyi_writer_t *w, uint64_t tag, uint32_t result_count);
void pingyi_msg_ack_result (pingyi_writer_t *w, const uint8_t id[PINGYI_BALLOT_ID_LEN],
                            pingyi_ack_status_t status, uint8_t reason, const char *text,
                            const char *receipt);
/*  After the results: the MAC with the venue's ack key (envelope.h).  */
void pingyi_msg_ack_end (pingyi_writer_t *w, const uint8_t ack_key[32]);
void pingyi_msg_retry (pingyi_writer_t *w, uint64_t tag, uint32_t retry_ms, const char *reason);
void pingyi_msg_error (pingyi_writer_t *w, uint64_t tag, pingyi_error_code_t code, const char *text);
void pingyi_msg_venue_open (pingyi_writer_t *w, uint64_t tag, const uint8_t fp[PINGYI_FP_LEN],
                            const char *venue);
void pingyi_msg_venue_close (pingyi_writer_t *w, uint64_t tag, const uint8_t fp[PINGYI_FP_LEN],
                             const char *venue, uint64_t issued, uint64_t collected, uint64_t sent,
                             const uint8_t close_key[32]);
/*  ack_key NULL: the answer to an operator (VENUE_REOPEN), whose MAC is 16
    zero bytes (an operator holds no link key; docs/PROTOCOL.md §3).  */
void pingyi_msg_venue_status (pingyi_writer_t *w, uint64_t tag, const pingyi_venue_figures_t *f,
                              const uint8_t ack_key[32]);
/*  reason: 1..PINGYI_TEXT_MAX bytes of UTF-8 (the caller checks); number:
    the venue's reopens + 1; the MAC under the operator's reopen key
    (envelope.h).  */
void pingyi_msg_venue_reopen (pingyi_writer_t *w, uint64_t tag, const uint8_t fp[PINGYI_FP_LEN],
                              const char *venue, uint32_t number, const char *reason,
                              const uint8_t reopen_key[32]);
void pingyi_msg_tally_query (pingyi_writer_t *w, uint64_t tag, uint32_t shard,
                             const uint8_t from[PINGYI_BLOCK_KEY_BYTES]);
void pingyi_msg_snapshot_begin (pingyi_writer_t *w, uint64_t tag, uint32_t shard, uint32_t shard_count,
                                const uint8_t fp[PINGYI_FP_LEN], uint64_t sequence,
                                const uint8_t digest[32], uint64_t generation, uint32_t venue_count);
/*  then venue_count × pingyi_msg_figures, then: */
void pingyi_msg_figures (pingyi_writer_t *w, const pingyi_venue_figures_t *f);
void pingyi_msg_snapshot_blocks_begin (pingyi_writer_t *w, uint32_t block_count);
/*  then block_count × pingyi_msg_block, then: */
void pingyi_msg_block (pingyi_writer_t *w, uint32_t venue, uint32_t subject, const uint8_t *cells, size_t len);
void pingyi_msg_snapshot_end (pingyi_writer_t *w, bool more, const uint8_t next[PINGYI_BLOCK_KEY_BYTES]);
void pingyi_msg_stats_query (pingyi_writer_t *w, uint64_t tag, int32_t shard);
void pingyi_msg_stats_begin (pingyi_writer_t *w, uint64_t tag, const char *source, uint32_t stat_count);
void pingyi_msg_stat (pingyi_writer_t *w, const char *name, uint64_t value);
void pingyi_msg_forward (pingyi_writer_t *w, uint64_t ticket, pingyi_role_t role, const char *sender,
                         size_t sender_len, const uint8_t *inner, size_t inner_len);
void pingyi_msg_reply (pingyi_writer_t *w, uint64_t ticket, const uint8_t *inner, size_t inner_len);
void pingyi_msg_monitor_query (pingyi_writer_t *w, uint64_t tag, uint32_t from);
/*  MONITOR: begin, worker_count × _worker, _shards_begin, × _shard,
    _refusals_begin, × _refusal (names strictly ascending, bytewise),
    _venues_begin, × _venue, _end.  heartbeat_ms / unowned_ms < 0 write nil;
    owner NULL writes nil.  */
void pingyi_msg_monitor_begin (pingyi_writer_t *w, uint64_t tag, uint64_t uptime_ms, const char *version,
                               uint32_t worker_count);
void pingyi_msg_monitor_worker (pingyi_writer_t *w, const char *name, const uint32_t *shards, uint32_t shard_count,
                                bool live, uint64_t in_flight, uint64_t envelopes_forwarded, int64_t heartbeat_ms);
void pingyi_msg_monitor_shards_begin (pingyi_writer_t *w, uint32_t shard_count);
void pingyi_msg_monitor_shard (pingyi_writer_t *w, uint32_t number, const char *owner, int64_t unowned_ms);
void pingyi_msg_monitor_refusals_begin (pingyi_writer_t *w, uint32_t count);
void pingyi_msg_monitor_refusal (pingyi_writer_t *w, const char *name, uint64_t value);
void pingyi_msg_monitor_venues_begin (pingyi_writer_t *w, uint32_t count);
/*  v->id, v->seen and the rest as they are to go on the wire (the caller
    applies the k rule).  */
void pingyi_msg_monitor_venue (pingyi_writer_t *w, const pingyi_monitor_venue_t *v);
void pingyi_msg_monitor_end (pingyi_writer_t *w, bool more, uint32_t next);

/*  The link MAC: keyed BLAKE2b with a 16-byte output (crypto_generichash).  */
void pingyi_msg_mac (uint8_t out[PINGYI_LINK_MAC_LEN], const uint8_t *data, size_t len, const uint8_t key[32]);
/*  0 when a decoded ACK, VENUE_STATUS or VENUE_CLOSE (msg, from frame) carries
    the MAC of key; -1 otherwise (constant time).  */
int pingyi_msg_mac_check (const uint8_t *frame, const pingyi_msg_t *msg, const uint8_t key[32]) PINGYI_WARN_UNUSED;

#endif
