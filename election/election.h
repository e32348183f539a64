/*  election.h — one evaluation event, as defined by its JSON definition file.

    The definition is parsed and validated once, where it enters (pingyi check,
    and every process at start); afterwards the model is read-only and trusted.
    Everything is referred to by index (venue 3, subject 7): indices are fixed
    by the file's bytes, and the file's SHA-256 (the fingerprint) travels in
    every message, so two processes with the same fingerprint agree on every
    index.  See docs/election-definition.md for the format.  */
#ifndef PINGYI_ELECTION_H
#define PINGYI_ELECTION_H

#include "common.h"

#define PINGYI_MAX_CHOICES 32       /* choices per choice set: a tick mask is a uint32 */
#define PINGYI_MAX_ITEMS 16         /* columns per subject on a form */
#define PINGYI_MAX_FORM_SUBJECTS 64 /* subjects on one venue's form */
#define PINGYI_MAX_CATEGORIES 32
#define PINGYI_MAX_VENUES 65535
#define PINGYI_MAX_SUBJECTS 65535
#define PINGYI_MAX_SHARDS 256
#define PINGYI_K_ANONYMITY_DEFAULT 10 /* k when the definition gives none */
#define PINGYI_K_ANONYMITY_MAX 1000
#define PINGYI_DEFINITION_MAX (16u << 20) /* largest definition file, bytes */

/*  A mark is what one cell of a ballot counts as.  For an item that takes one
    choice: the choice index, or BLANK (no tick: 弃权) or OVER (two or more
    ticks: 多选无效, invalid for that cell only).  Counter keys store marks.  */
#define PINGYI_MARK_BLANK 254
#define PINGYI_MARK_OVER 255

typedef enum {
    PINGYI_UNIT_TOWN = 0,       /* 镇 / 街道 */
    PINGYI_UNIT_DEPARTMENT = 1, /* 部门 */
    PINGYI_UNIT_ENTERPRISE = 2,
    PINGYI_UNIT_SCHOOL = 3,
    PINGYI_UNIT_OTHER = 4,
} pingyi_unit_kind_t;

typedef struct {
    char *label;       /* 好 */
    char *letter;      /* "A"; NULL if none */
    double points;     /* 100; 0 when not given (has_points false) */
    bool has_points;   /* "points" given: required on every choice a graded item scores */
    bool favourable;   /* counts toward 好评率 */
    bool unfavourable; /* counts toward 差评率 */
} pingyi_choice_t;

typedef struct {
    char *id; /* "grades" is the default set, always index 0 (no choices when the
                 definition has no "grades": no item may then use it) */
    pingyi_choice_t *choices;
    size_t choice_count;
} pingyi_choice_set_t;

/*  Which rank is THE rank of an item (the row's rank, and "rank" in every
    output); the other is still reported (docs/rollup.md "Majority
    judgment").  */
typedef enum {
    PINGYI_RANKING_SCORE = 0,    /* "score": by the weighted score, descending (the default) */
    PINGYI_RANKING_MAJORITY = 1, /* "majority_judgment": by majority judgment (Balinski & Laraki) */
} pingyi_ranking_t;

/*  What an item asks, and so which figures its views show (docs/rollup.md
    "Contests"): the one place a writer or the roll-up asks is
    pingyi_item_kind (via the item).  */
typedef enum {
    PINGYI_KIND_GRADED = 0, /* "graded": grades with points: 好评率, 差评率, weighted score, rank */
    PINGYI_KIND_YES_NO,     /* "yes_no": 同意/不同意/弃权: approval rate = the favourable choice / valid */
    PINGYI_KIND_PLURALITY,  /* "plurality": candidates, up to max_choices each: votes, shares of
                               the valid votes, winner(s) */
    PINGYI_KIND_APPROVAL,   /* "approval": candidates, any number each (max_choices defaults to
                               all): votes, shares of the valid ballots, winner(s) */
    PINGYI_KIND_COUNT_
} pingyi_item_kind_t;

const char *pingyi_item_kind_name (pingyi_item_kind_t kind); /* "graded", ... */
/*  Candidates' contests (plurality, approval): votes, shares, winners.  */
#define PINGYI_KIND_IS_CONTEST(k) ((k) == PINGYI_KIND_PLURALITY || (k) == PINGYI_KIND_APPROVAL)

typedef struct {
    char *id;
    char *name;           /* 总体评价 */
    bool overall;         /* the overall column; items[0] when present */
    size_t choice_set;    /* index into choice_sets */
    unsigned max_choices; /* ticks valid in one cell: 1 unless the definition says (approval: all) */
    pingyi_ranking_t ranking; /* "ranking": score (default) or majority_judgment; graded only */
    pingyi_item_kind_t kind;  /* "kind": graded (default), yes_no, plurality, approval */
    unsigned seats;           /* contests: how many win (default 1); 0 for the others */
} pingyi_item_t;

typedef struct {
    char *id;
    char *name; /* 领导班子成员 */
    double weight;
} pingyi_category_t;

typedef struct {
    char *id;
    char *name;
} pingyi_district_t;

typedef struct {
    char *id;
    char *name;
    pingyi_unit_kind_t kind;
    size_t district;
} pingyi_unit_t;

typedef struct {
    char *id;
    char *name;
    size_t unit;
    bool onsite; /* reports on site (现场述职) or in writing (书面述职) */
} pingyi_subject_t;

typedef struct {
    char *id;
    char *name;
    size_t district;
    size_t *subjects; /* the venue's form, in form order */
    size_t subject_count;
    int64_t issued; /* ballots issued if known in advance, else -1 */
    uint32_t shard; /* resolved: explicit "shard" or hash of id */
} pingyi_venue_t;

typedef struct {
    char *id;
    char *title;
    uint8_t fingerprint[PINGYI_FP_LEN];
    char fingerprint_hex[2 * PINGYI_FP_LEN + 1];
    uint32_t shard_count;
    /*  k of the k-anonymous release (docs/SECURITY.md): a venue's figures
        are released in steps of at least k accepted ballots or at its
        close, and no published cell is drawn from fewer than k ballots.  */
    uint32_t k_anonymity;
    pingyi_choice_set_t *choice_sets;
    size_t choice_set_count;
    pingyi_item_t *items;
    size_t item_count;
    pingyi_category_t *categories;
    size_t category_count;
    pingyi_district_t *districts;
    size_t district_count;
    pingyi_unit_t *units;
    size_t unit_count;
    pingyi_subject_t *subjects;
    size_t subject_count;
    pingyi_venue_t *venues;
    size_t venue_count;
    /*  A venue extract (docs/election-definition.md#venue-extracts): the
        part of the definition venue extract_venue needs, every index and
        the fingerprint as in the whole definition; the entries it leaves
        out are placeholders with an empty id.  Only a venue host loads
        one: pingyi init and the other hosts' bundles refuse it.  */
    bool extract;
    size_t extract_venue;
} pingyi_election_t;

/*  A list of error lines ("subjects[3].unit: unknown unit \"镇党委2\"").  */
typedef struct {
    char **lines;
    size_t count;
} pingyi_errlist_t;

void pingyi_errlist_add (pingyi_errlist_t *self, const char *fmt, ...) PINGYI_PRINTF (2, 3);
void pingyi_errlist_clear (pingyi_errlist_t *self);

/*  Parse and validate a definition.  On any error returns NULL and appends
    every error found (not only the first) to errs, each naming the JSON path
    and the reason.  The fingerprint is the SHA-256 of the bytes.  */
pingyi_election_t *pingyi_election_parse (const uint8_t *bytes, size_t len,
                                          pingyi_errlist_t *errs) PINGYI_WARN_UNUSED;
/*  Same, from a file; a file that cannot be read is one error naming it.  */
pingyi_election_t *pingyi_election_load (const char *path, pingyi_errlist_t *errs) PINGYI_WARN_UNUSED;
/*  Load or fail with one line in err (the first error, and how many more).  */
pingyi_election_t *pingyi_election_load_or_err (const char *path, char *err) PINGYI_WARN_UNUSED;
void pingyi_election_destroy (pingyi_election_t **self_p);

/*  Look-ups by id (len bytes, not NUL-terminated); index or -1.  */
int pingyi_election_venue (const pingyi_election_t *self, const char *id, size_t len);
int pingyi_election_subject (const pingyi_election_t *self, const char *id, size_t len);
int pingyi_election_category (const pingyi_election_t *self, const char *id, size_t len);
/*  Position of subject in the venue's form, or -1 if not on it.  */
int pingyi_election_form_index (const pingyi_election_t *self, size_t venue, size_t subject);

/*  The shard of a venue id when the definition gives none: FNV-1a 64 of the
    id's bytes, modulo shard_count.  */
uint32_t pingyi_election_hash_shard (const char *id, size_t len, uint32_t shard_count);

const char *pingyi_unit_kind_name (pingyi_unit_kind_t kind); /* "town" ... */

/*  Append to warnings one line for each thing a valid definition has that
    is probably a mistake, each "JSON.path: reason" like an error line, and
    return how many were appended:
      categories: every weight is 0, so no weighted score can be computed
      districts[1] (第2区): has no unit and no venue
      units[4] (区公共服务党支部): has no subjects
      subjects[3] (**镇党委书记): on no venue's form, so never evaluated
    `pingyi check` prints them after the summary; other tools may too.  */
size_t pingyi_election_warnings (const pingyi_election_t *self, pingyi_errlist_t *warnings);

/*  Print the summary `pingyi check` shows.  */
void pingyi_election_print_summary (const pingyi_election_t *self, FILE *out);


#endif
