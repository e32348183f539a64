/*  rollup.h — the citywide view: roll-ups, rates, weighted scores, ranks,
    reconciliation; computed from a merged tally (tally.h).

    Levels (docs/rollup.md):
        subject     one row per 测评对象
        unit        one row per 单位 (all its subjects)
        town        the units of kind town (镇/街道), one row each
        department  the units of kind department (部门), one row each
        kind        one row per unit kind (all towns together, ...)
        district    one row per 区
        city        one row: everything
    A row sums every counter of its subjects over the venues that count:
    venues whose round is VOID are left out of every row (and listed in the
    reconciliation), never merged silently.

    Per row and item, by category and across categories:
        counts of each choice, blank (弃权), over (多选无效), valid cells
        (cells with a grade), 好评率 = favourable / valid, 差评率 =
        unfavourable / valid, and the weighted score:
            score = Σ_c w_c · avg_c / Σ_c w_c,   avg_c = Σ_m points_m · n_{c,m} / valid_c
        over the categories c with valid_c > 0 (a category that gave no valid
        mark does not drag the score to 0).  Points and weights come from the
        definition, never from code.  Ranks: within a level, by score of the
        chosen item, descending; equal scores share a rank (1, 2, 2, 4).

    Reconciliation per venue: open (not closed), closed (closed, but not every
    ballot the client says it sent is accounted for yet), reconciled (closed,
    collected <= issued, accepted <= collected, accepted + rejected >= sent),
    void (collected > issued, or accepted > collected).  The count is FINAL
    when every venue is reconciled and no venue refused a ballot after its
    close (rejected_by[venue_closed] > 0: ballots arrived after the close,
    so the close did not see them all); an open, unreconciled or void venue
    keeps it PROVISIONAL, and the view names each one and why
    (pingyi_view_status_text).  Decided in one place, pingyi_venue_holds.

    Release (k-anonymity, docs/rollup.md "Release"): the view also decides,
    once, what may be published.  n of a cell is the number of ballots
    behind it: for (row, category c), the sum of by_category[c] over the
    venues (not void) whose form has a subject of the row; for the row, the
    sum over its categories.  A cell with 0 < n < k is suppressed; a row
    with 0 < n < k is suppressed whole; and further cells are suppressed,
    and (venue, category) groups of the raw tally hidden, until no
    published sum minus the published cells in it isolates a part drawn
    from fewer than k ballots, or a single suppressed cell (rows over their
    categories, parents over their children, the raw tally's groups under
    every row, a venue's groups under its accepted ballots).  Suppressed cells keep counting in
    every total above them, but the view holds none of their figures:
    their counts are 0 and their rates and scores NAN, with `suppressed`
    set, so no writer can print one by mistake.  */
#ifndef PINGYI_ROLLUP_H
#define PINGYI_ROLLUP_H

#include "tally.h"

typedef enum {
    PINGYI_LEVEL_SUBJECT = 0,
    PINGYI_LEVEL_UNIT,
    PINGYI_LEVEL_TOWN,
    PINGYI_LEVEL_DEPARTMENT,
    PINGYI_LEVEL_KIND,
    PINGYI_LEVEL_DISTRICT,
    PINGYI_LEVEL_CITY,
    PINGYI_LEVEL_COUNT_
} pingyi_level_t;

const char *pingyi_level_name (pingyi_level_t level); /* "subject", ... */
/*  The level named name ("city", ..., "subject"), or -1.  */
int pingyi_level_parse (const char *name) PINGYI_WARN_UNUSED;

typedef enum {
    PINGYI_VENUE_OPEN = 0,
    PINGYI_VENUE_CLOSED,
    PINGYI_VENUE_RECONCILED,
    PINGYI_VENUE_VOID,
} pingyi_venue_status_t;

const char *pingyi_venue_status_name (pingyi_venue_status_t status); /* "open", ... */
pingyi_venue_status_t pingyi_venue_status (const pingyi_venue_figures_t *figures);
/*  The void rule, the one place it is written: the figures' reasons to
    void a round (collected > issued; accepted > collected), 0 when none;
    their text into why ("collected 112 > issued 109; accepted 120 >
    collected 112") when why is not NULL.  A round is void only once closed
    (pingyi_venue_status); the client and the worker ask it of a close's
    answer.  */
size_t pingyi_venue_void_why (const pingyi_venue_figures_t *figures, char *why, size_t cap);
/*  The close a venue may declare: when the definition gives the venue's
    `issued` (the forms printed for it), a close declaring more is refused
    (the definition bounds the close; fewer may have been handed out).
    0, or -1 with the reason in why ("venue v01: issued 130 is more than
    the 120 forms its definition says were issued ...").  The client asks
    before it starts, the worker again for every VENUE_CLOSE.  */
int pingyi_venue_close_allowed (const pingyi_election_t *e, size_t venue, uint64_t issued, char *why,
                                size_t cap) PINGYI_WARN_UNUSED;

/*  Figures of one (row, item, category-or-all).  */
typedef struct {
    uint64_t choices[PINGYI_MAX_CHOICES]; /* by choice index of the item's set */
    uint64_t blank;
    uint64_t over;
    uint64_t valid;
    uint64_t favourable;
    uint64_t unfavourable;
    double good_rate; /* favourable / valid; NAN when valid = 0 */
    double bad_rate;
    double score;    /* weighted (all categories) or plain average (one category); NAN when none */
    bool suppressed; /* withheld by the release: counts 0, rates and score NAN */
    /*  Majority judgment (docs/rollup.md "Majority judgment"): the majority
        grade, a choice index of the item's set (choices listed best first),
        or -1 when the cell has no valid vote or is suppressed; and the
        cell's ranks among the rows of its level for the same (item,
        category): by majority judgment (rows without a valid vote share the
        rank after every graded row; suppressed: 0) and by score (the
        pingyi_view_score_rank rule; 0 when no score).  THE rank of the item
        (row.rank, pingyi_view_rank) is one of the two, by the item's
        "ranking".  */
    int majority_grade;
    int mj_rank;
    int score_rank;
    /*  A contest (plurality, approval; docs/rollup.md "Contests"): the
        winners, bit m for choice m (pingyi_contest_winners), and whether
        more reach the bar than there are seats (a tie at the last seat).
        valid is then the valid votes (every tick of a valid cell), the
        share of choice m choices[m] / valid.  0 / false for the other
        kinds and for a suppressed cell.  */
    uint32_t winners;
    bool tie;
} pingyi_cell_stats_t;

typedef struct {
    const char *id;     /* subject/unit/district id, kind name, or "city" */
    const char *name;   /* display name (Chinese) */
    const char *parent; /* unit of a subject, district of a unit, ... or NULL */
    int rank;           /* within the level, by the rank item's ranking (score unless it says
                           majority_judgment; pingyi_view_rank); 0 when not ranked */
    bool suppressed;    /* withheld whole by the release (every cell suppressed) */
    /* stats[item * (category_count + 1) + c]: c < category_count one category,
       c == category_count all categories (weighted) */
    pingyi_cell_stats_t *stats;
} pingyi_row_t;

typedef struct {
    pingyi_level_t level;
    pingyi_row_t *rows;
    size_t row_count;
} pingyi_level_view_t;

typedef struct {
    pingyi_venue_figures_t figures;
    pingyi_venue_status_t status;
} pingyi_venue_view_t;

typedef struct {
    const pingyi_election_t *election;
    pingyi_level_view_t levels[PINGYI_LEVEL_COUNT_];
    pingyi_venue_view_t *venues; /* by venue index */
    size_t rank_item;            /* the item ranks are computed on (the overall item) */
    bool final;                  /* pingyi_view_final (self, -1, NULL): no venue holds it back */
    size_t venues_open, venues_closed, venues_reconciled, venues_void;
    /* totals over all venues (void included): ballots and rejections */
    uint64_t accepted, blank_ballots, duplicates, rejected;
    uint64_t rejected_by[PINGYI_REJECT_SLOTS];
    /* the release */
    uint32_t k;              /* k it was computed with (1: nothing withheld) */
    size_t suppressed_cells; /* (row, category) cells withheld, whole rows included, every level */
    size_t hidden_groups;    /* (venue, category) groups of the raw tally withheld */
    /* when the figures shown were taken (seconds since the epoch; 0 unknown):
       pingyi_view_new sets the time it computes the view; a reader of a
       released view sets the aggregator's merge time */
    int64_t snapshot_at;
} pingyi_view_t;

/*  Compute the whole view from a merged tally, released with the
    definition's k_anonymity.  NULL on out of memory.  */
pingyi_view_t *pingyi_view_new (const pingyi_election_t *election, const pingyi_tally_t *tally);
/*  The same with another k (1: nothing is withheld — for tests and for
    tools that hold the shard secret anyway).  */
pingyi_view_t *pingyi_view_new_k (const pingyi_election_t *election, const pingyi_tally_t *tally, uint32_t k);
void pingyi_view_destroy (pingyi_view_t **self_p);

/*  Ballots behind (row, category) of level (category_count: the whole
    row), as the release counted them.  0 for a view read back from JSON.  */
uint64_t pingyi_view_ballots (const pingyi_view_t *self, pingyi_level_t level, size_t row, size_t category);
/*  The raw tally's (venue, category) groups: whether the release withholds
    the group (its counters and its by_category figure), and its ballots
    (by_category, or counted from the counters when a shard sent none).  */
bool pingyi_view_group_hidden (const pingyi_view_t *self, size_t venue, size_t category);
uint64_t pingyi_view_group_ballots (const pingyi_view_t *self, size_t venue, size_t category);

/*  A view to be filled by a reader of a released view (tally_json.h,
    pingyi_view_from_json): every row, no count; venues from figures
    (venue_count entries by venue index; NULL: none reported).  The reader
    sets each cell's choices, blank, over, score and suppressed, and each
    row's suppressed, then calls pingyi_view_finish, which derives valid,
    favourable, unfavourable and the rates, wipes suppressed cells and
    ranks every level.  NULL on out of memory.  */
pingyi_view_t *pingyi_view_new_empty (const pingyi_election_t *election,
                                      const pingyi_venue_figures_t *figures, uint32_t k);
void pingyi_view_finish (pingyi_view_t *self);
/*  A reader of a released view: the raw tally's (venue, category) group
    as the released document shows it — its ballots (by_category), and
    whether the release withheld it (suppressed_categories).  A withheld
    group's ballots are withheld too; it is recorded with 1 (a hidden group
    always has ballots), so pingyi_side_view_new still sees it and keeps
    every rater-side cell it is part of withheld.  */
void pingyi_view_set_group (pingyi_view_t *self, size_t venue, size_t category, uint64_t ballots, bool hidden);

/*  The stats of row r of level at item, category (category_count = all).  */
const pingyi_cell_stats_t *pingyi_view_stats (const pingyi_view_t *self, pingyi_level_t level, size_t row,
                                              size_t item, size_t category);

/*  Added with the implementation (not in the lead's first contract):  */

/*  Ranks of every row of level by the score of (item, category) — the
    same rule as row.rank, which is this for (rank_item, all categories):
    descending, NAN scores (suppressed cells among them) get 0, equal
    scores share a rank (1, 2, 2, 4);
    scores equal to 1e-9 relative count as equal.  ranks has row_count
    entries.  0, or -1 on a bad level/item/category or out of memory.  */
int pingyi_view_rank (const pingyi_view_t *self, pingyi_level_t level, size_t item, size_t category,
                      int *ranks);
/*  pingyi_view_rank follows the item's "ranking": for an item ranked by
    majority judgment it gives pingyi_view_mj_rank, else
    pingyi_view_score_rank (the rule above).  Both: same arguments and
    results.  */
int pingyi_view_score_rank (const pingyi_view_t *self, pingyi_level_t level, size_t item, size_t category,
                            int *ranks);
/*  Majority judgment (Balinski & Laraki), docs/rollup.md "Majority
    judgment".  Valid votes only (blank 弃权 and over-marked 多选无效 cells
    are not votes); choice index 0 is the best grade.

    The majority grade of n > 0 valid votes sorted best to worst,
    v_1..v_n, is v_{floor(n/2)+1}: the median for n odd, the lower (worse)
    of the two middle grades for n even; equivalently the best grade g
    such that more than half of the votes are g or better.  -1 when n = 0.  */
int pingyi_majority_grade (const uint64_t *choices, size_t choice_count);
/*  The winners of a contest with these votes (by choice index) and seats:
    every choice with at least one vote whose votes reach the seats-th
    largest count (all choices with a vote when fewer have one), as bits
    (bit m: choice m).  More than seats winners means a tie at the last
    seat, and *tie (may be NULL) says so: every tied choice is named, none
    is picked (a tie is for the rules of the election to settle, not for
    the count).  0 when no choice has a vote.  */
uint32_t pingyi_contest_winners (const uint64_t *choices, size_t choice_count, unsigned seats, bool *tie);
/*  Compare two rows' votes (choices by index, best first) by majority
    judgment: > 0 when a ranks above b, < 0 below, 0 tied.  With as many
    votes on both sides it is the iterative rule: compare the majority
    grades; when equal, remove one vote of that grade from each and repeat;
    the first difference decides (the better grade ranks higher).  With
    different numbers of votes, na and nb, the rule is applied to the
    profiles with every vote of a taken nb times and every vote of b na
    times (so only the shares matter).  Hence two rows tie exactly when
    their shares of each grade are equal; a row without valid vote is
    below every row with one (two such rows tie).  Computed in
    O(choice_count), never vote by vote.  */
int pingyi_majority_compare (const uint64_t *a, const uint64_t *b, size_t choice_count);
/*  Ranks of every row of level by majority judgment of (item, category):
    1 for the best, tied rows share a rank (1, 2, 2, 4); rows without a
    valid vote share the rank after the last graded row; suppressed cells
    get 0.  0, or -1 on a bad level/item/category or out of memory.  */
int pingyi_view_mj_rank (const pingyi_view_t *self, pingyi_level_t level, size_t item, size_t category,
                         int *ranks);

/*  The district index a row belongs to (subject: its unit's district;
    unit, town, department: the unit's; district: itself), or -1 for rows
    that span districts (kind, city).  */
int pingyi_view_row_district (const pingyi_view_t *self, pingyi_level_t level, size_t row);

/*  Chinese name of a unit kind: 镇/街道, 部门, 企业, 学校, 其他 (the kind
    level's row names).  */
const char *pingyi_unit_kind_label (pingyi_unit_kind_t kind);

/*  FINAL or PROVISIONAL (docs/rollup.md "Venue status and FINAL").  What
    keeps one venue from FINAL, as bits (0: nothing):  */
#define PINGYI_HOLD_OPEN 1u         /* not closed: ballots may still arrive */
#define PINGYI_HOLD_UNRECONCILED 2u /* closed, not reconciled (a figure unknown, or sent not accounted) */
#define PINGYI_HOLD_VOID 4u         /* void: must be reviewed */
#define PINGYI_HOLD_LATE 8u         /* refused ballots after its close (rejected_by[venue_closed] > 0) */
/*  The one rule: the count is FINAL when no venue holds it back.  */
unsigned pingyi_venue_holds (const pingyi_venue_view_t *venue);
/*  Why venue holds the count back, in one phrase per cause joined by
    ", ", after the venue id: "v02 open", "v03 void (collected 112 > issued
    109)", "v05 refused 2 ballots after its close", "v04 closed, not
    reconciled (issued unknown)".  Empty when it does not.  Returns
    pingyi_venue_holds.  */
unsigned pingyi_venue_why (const pingyi_view_t *self, size_t venue, char *out, size_t cap);
/*  FINAL over the venues of district (-1: every venue): none holds it
    back.  held (may be NULL) receives how many do.  */
bool pingyi_view_final (const pingyi_view_t *self, int district, size_t *held);
/*  "FINAL", or "PROVISIONAL: " and the first `named` venues that hold it
    back (pingyi_venue_why) joined by "; ", then "; and N more" for the
    rest; over the venues of district (-1: all).  Returns whether FINAL.  */
#define PINGYI_STATUS_NAMED 5
bool pingyi_view_status_text (const pingyi_view_t *self, int district, size_t named, char *out, size_t cap);
/*  A time (seconds since the epoch) in ISO 8601 local time with its
    offset, "2026-12-06T11:42:05+08:00"; "unknown" when 0 or less.  */
void pingyi_time_text (int64_t at, char *out, size_t cap);
/*  pingyi_time_text of the view's snapshot_at.  */
void pingyi_view_snapshot_text (const pingyi_view_t *self, char *out, size_t cap);
#define PINGYI_SNAPSHOT_TEXT 40 /* enough for pingyi_view_snapshot_text */

/*  ---------------------------------------------------------------------
    The rater side (docs/rollup.md "The rater side"): for the subjects of
    one subject-side row (a subject, unit, town, department, kind,
    district or the city: the filter), their figures grouped by who rated
    them instead of whom: one row per venue that rated any of them (not
    void; the venue's district its parent), per district of the VENUE (all
    districts, zeros when none of its venues rated them), or per rater
    category (every category; the row's cells hold that category only).
    The venue level is the same on both sides: `--by venue` is this
    grouping (a venue row = the filter's subjects on its form, its ballots
    only).  Cells have the layout and arithmetic of the view's rows
    (finish_row: rates, weighted score, majority grade); ranks are 0.

    Release: a rater-side cell (row, category c) with venues V is
    published only when it is a sum of what the view's release publishes
    already: every raw-tally group (v, c), v in V with ballots, is
    published (pingyi_view_group_hidden false; such a group has B >= k),
    so the cell gives nothing /api/v1/tally does not.  Else it is
    suppressed (counts 0, rates NAN).  The all-categories cell is
    published only when every category cell with ballots is.  By category:
    the cell is the subject-side cell (filter row, c) and takes the view's
    decision for it.  */
typedef enum {
    PINGYI_RATER_VENUE = 0,
    PINGYI_RATER_DISTRICT,
    PINGYI_RATER_CATEGORY,
    PINGYI_RATER_COUNT_
} pingyi_rater_by_t;

const char *pingyi_rater_by_name (pingyi_rater_by_t by); /* "venue", "district", "category" */
int pingyi_rater_by_parse (const char *name) PINGYI_WARN_UNUSED; /* or -1 */

typedef struct {
    const pingyi_view_t *view;  /* the released view it was computed with */
    pingyi_rater_by_t by;
    pingyi_level_t of_level;    /* the filter: row of_row of the subject-side level of_level */
    size_t of_row;
    pingyi_row_t *rows;         /* rank 0; parent: a venue's district id, "city", or NULL */
    size_t row_count;
    size_t *source;             /* venue, district or category index of each row */
    uint64_t *ballots;          /* [row × (categories + 1) + c]: n of the cell */
    pingyi_cell_stats_t *cells;
    size_t suppressed_cells;    /* (row, category-or-all) cells withheld */
} pingyi_side_view_t;

/*  The rater-side grouping of the subjects of (of_level, of_row), from
    the tally the view was computed from (pingyi_view_new_k; not a view
    read back from JSON: it has no groups).  NULL on out of memory or a
    bad level/row.  */
pingyi_side_view_t *pingyi_side_view_new (const pingyi_view_t *view, const pingyi_tally_t *tally,
                                          pingyi_rater_by_t by, pingyi_level_t of_level, size_t of_row);
void pingyi_side_view_destroy (pingyi_side_view_t **self_p);
/*  The stats of row r at item, category (category_count = all).  */
const pingyi_cell_stats_t *pingyi_side_view_stats (const pingyi_side_view_t *self, size_t row, size_t item,
                                                   size_t category);
/*  The row of level whose id is id, or -1.  */
int pingyi_view_find_row (const pingyi_view_t *view, pingyi_level_t level, const char *id);
/*  The row of level named by text: its id first (ids are what files and
    URLs carry), else the one row whose name is text (a clerk types
    "**镇党委书记").  -1 when none (why empty), or -2 when several rows
    share that name, with why: "\"**镇党委书记\" is the name of 2 subjects
    (s03, s09): give the id".  */
int pingyi_view_find_row_named (const pingyi_view_t *view, pingyi_level_t level, const char *text, char *why,
                                size_t why_cap);

/*  Whose ratings a rater-side view is of, from the three ways to say it
    (`subject` S, `unit` U, `of` "LEVEL=ID"; none: the city): the one
    place the command line and the API read it.  0 with *level and *id
    (into the arguments, or "city"); -1 with why: "give one of subject,
    unit, of", "of: expected LEVEL=ID (unit=u01, district=d1, ...)", "of:
    unknown level \"x\"".  */
int pingyi_side_of_parse (const char *subject, const char *unit, const char *of, pingyi_level_t *level,
                          const char **id, char *why, size_t why_cap) PINGYI_WARN_UNUSED;

#endif
