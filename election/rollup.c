/*  rollup.c — the citywide view computed from a merged tally (see rollup.h,
    docs/rollup.md).

    How: one walk over the tally's non-zero counters adds each into its
    subject's accumulator (venues whose round is void are skipped there, so
    they reach no row); subjects are then summed into units, units into
    towns, departments, kinds and districts (the district of the UNIT, not
    of the venue), districts into the city.  Summing the sums gives exactly
    what adding every counter into each of its rows would give, with one
    add per counter instead of six.  Accumulators are compact (u64 per mark
    slot); the public pingyi_cell_stats_t cells are written once, at the
    end, row by row, with rates, scores and then ranks.

    Then the release (k-anonymity, docs/rollup.md "Release"): which cells
    the view withholds and which (venue, category) groups of the raw tally
    the aggregator withholds, decided here once for every writer.  It runs
    after every cell is computed (suppressed cells still count in every
    total above them) and before the ranks (a suppressed cell has no score
    to rank by).

    Invariants: every row of every level has item_count × (category_count
    + 1) cells; a cell's choices, blank and over are sums of raw counters,
    or 0 when the cell is suppressed; rates and scores are NAN, never 0,
    when there is nothing to divide by or the cell is suppressed.  The view
    points into the election (ids, names): the election outlives the
    view.  */
#include "rollup.h"
#include "ballot.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <string.h>

/*  The public view, plus what the report needs and rollup.h does not
    show: the definition index behind each row.  */
typedef struct {
    pingyi_view_t pub;
    size_t *source[PINGYI_LEVEL_COUNT_]; /* subject, unit, unit, unit, kind, district, 0 */
    pingyi_cell_stats_t *cells;
    size_t stride;                        /* cells per row: items × (categories + 1) */
    size_t row_base[PINGYI_LEVEL_COUNT_]; /* index of each level's first row among all rows */
    size_t total_rows;
    uint64_t *ballots;  /* [row × (categories + 1) + c]: n of (row, c); c = categories: the row */
    uint64_t *group_b;  /* [venue × categories + c]: ballots of the raw tally's group */
    bool *group_hidden; /* [venue × categories + c] */
} view_t;

static const char *level_names[PINGYI_LEVEL_COUNT_] = {"subject", "unit",     "town", "department",
                                                       "kind",    "district", "city"};

const char *
pingyi_level_name (pingyi_level_t level)
{
    return (unsigned) level < PINGYI_LEVEL_COUNT_ ? level_names[level] : "?";
}

int
pingyi_level_parse (const char *name)
{
    for (int l = 0; name && l < PINGYI_LEVEL_COUNT_; l++)
        if (!strcmp (name, level_names[l]))
            return l;
    return -1;
}

const char *
pingyi_venue_status_name (pingyi_venue_status_t status)
{
    switch (status) {
    case PINGYI_VENUE_OPEN:
        return "open";
    case PINGYI_VENUE_CLOSED:
        return "closed";
    case PINGYI_VENUE_RECONCILED:
        return "reconciled";
    case PINGYI_VENUE_VOID:
        return "void";
    }
    return "?";
}

/*  A figure of -1 is unknown (not declared yet).  Void needs the two
    numbers it compares: an unknown figure never voids a venue, and never
    reconciles one either (a close without issued/collected stays
    "closed").  Only a closed round can be judged: until the clerk closes
    it, ballots are still arriving.  */
size_t
pingyi_venue_void_why (const pingyi_venue_figures_t *f, char *why, size_t cap)
{
    size_t reasons = 0, used = 0;
    if (why && cap)
        why[0] = '\0';
    if (f->issued >= 0 && f->collected > f->issued) {
        if (why && cap)
            used += (size_t) snprintf (why, cap, "collected %" PRId64 " > issued %" PRId64, f->collected,
                                       f->issued);
        reasons++;
    }
    if (f->collected >= 0 && f->accepted > (uint64_t) f->collected) {
        if (why && used < cap)
            snprintf (why + used, cap - used, "%saccepted %" PRIu64 " > collected %" PRId64, reasons ? "; " : "",
                      f->accepted, f->collected);
        reasons++;
    }
    return reasons;
}

pingyi_venue_status_t
pingyi_venue_status (const pingyi_venue_figures_t *f)
{
    if (!f->closed)
        return PINGYI_VENUE_OPEN;
    if (pingyi_venue_void_why (f, NULL, 0))
        return PINGYI_VENUE_VOID;
    if (f->issued < 0 || f->collected < 0)
        return PINGYI_VENUE_CLOSED;
    if (f->sent >= 0 && f->accepted + f->rejected < (uint64_t) f->sent)
        return PINGYI_VENUE_CLOSED;
    return PINGYI_VENUE_RECONCILED;
}

int
pingyi_venue_close_allowed (const pingyi_election_t *e, size_t venue, uint64_t issued, char *why, size_t cap)
{
    const pingyi_venue_t *v = &e->venues[venue];
    if (v->issued < 0 || issued <= (uint64_t) v->issued)
        return 0;
    snprintf (why, cap,
              "venue %s: issued %" PRIu64 " is more than the %" PRId64 " forms its definition says were issued; "
              "a close may declare fewer, never more (a wrong definition is for the election office to correct)",
              v->id, issued, v->issued);
    return -1;
}

/*  The FINAL rule, the one place it is decided: a venue holds the count
    back unless it is closed and reconciled and refused no ballot after its
    close.  A void venue holds it too: it must be reviewed before the
    count is final, even though its ballots are in no row.  */
unsigned
pingyi_venue_holds (const pingyi_venue_view_t *vv)
{
    unsigned h = 0;
    switch (vv->status) {
    case PINGYI_VENUE_OPEN:
        h |= PINGYI_HOLD_OPEN;
        break;
    case PINGYI_VENUE_CLOSED:
        h |= PINGYI_HOLD_UNRECONCILED;
        break;
    case PINGYI_VENUE_VOID:
        h |= PINGYI_HOLD_VOID;
        break;
    case PINGYI_VENUE_RECONCILED:
        break;
    }
    if (vv->figures.rejected_by[PINGYI_REJECT_VENUE_CLOSED] > 0)
        h |= PINGYI_HOLD_LATE;
    return h;
}

/*  Append to out[*n..cap) with snprintf, never past cap.  */
static void append (char *out, size_t cap, size_t *n, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
static void
append (char *out, size_t cap, size_t *n, const char *fmt, ...)
{
    if (*n >= cap)
        return;
    va_list ap;
    va_start (ap, fmt);
    int k = vsnprintf (out + *n, cap - *n, fmt, ap);
    va_end (ap);
    if (k > 0)
        *n = *n + (size_t) k < cap ? *n + (size_t) k : cap - 1;
}

unsigned
pingyi_venue_why (const pingyi_view_t *self, size_t venue, char *out, size_t cap)
{
    if (cap)
        out[0] = 0;
    const pingyi_venue_view_t *vv = &self->venues[venue];
    const pingyi_venue_figures_t *f = &vv->figures;
    unsigned h = pingyi_venue_holds (vv);
    if (!h || !cap)
        return h;
    size_t n = 0;
    append (out, cap, &n, "%s", self->election->venues[venue].id);
    const char *sep = " ";
    if (h & PINGYI_HOLD_OPEN)
        append (out, cap, &n, "%s%s", sep, f->reopens > 0 ? "reopened" : "open"), sep = ", ";
    if (h & PINGYI_HOLD_UNRECONCILED) {
        if (f->issued < 0 || f->collected < 0)
            append (out, cap, &n, "%sclosed, not reconciled (%s unknown)", sep,
                    f->issued < 0 && f->collected < 0 ? "issued and collected"
                    : f->issued < 0                   ? "issued"
                                                      : "collected");
        else
            append (out, cap, &n,
                    "%sclosed, not reconciled (accepted %" PRIu64 " + rejected %" PRIu64 " < sent %" PRId64
                    ")",
                    sep, f->accepted, f->rejected, f->sent);
        sep = ", ";
    }
    if (h & PINGYI_HOLD_VOID) {
        char why[160];
        pingyi_venue_void_why (f, why, sizeof why);
        append (out, cap, &n, "%svoid (%s)", sep, why);
        sep = ", ";
    }
    if (h & PINGYI_HOLD_LATE) {
        uint64_t late = f->rejected_by[PINGYI_REJECT_VENUE_CLOSED];
        append (out, cap, &n, "%srefused %" PRIu64 " ballot%s after its close", sep, late,
                late == 1 ? "" : "s");
    }
    return h;
}

static bool
venue_in (const pingyi_view_t *self, size_t v, int district)
{
    return district < 0 || self->election->venues[v].district == (size_t) district;
}

bool
pingyi_view_final (const pingyi_view_t *self, int district, size_t *held)
{
    size_t n = 0;
    for (size_t v = 0; v < self->election->venue_count; v++)
        if (venue_in (self, v, district) && pingyi_venue_holds (&self->venues[v]))
            n++;
    if (held)
        *held = n;
    return n == 0;
}

bool
pingyi_view_status_text (const pingyi_view_t *self, int district, size_t named, char *out, size_t cap)
{
    size_t held, n = 0, shown = 0;
    if (cap)
        out[0] = 0;
    if (pingyi_view_final (self, district, &held)) {
        append (out, cap, &n, "FINAL");
        return true;
    }
    append (out, cap, &n, "PROVISIONAL:");
    char why[512];
    for (size_t v = 0; v < self->election->venue_count && shown < named; v++)
        if (venue_in (self, v, district) && pingyi_venue_why (self, v, why, sizeof why))
            append (out, cap, &n, "%s %s", shown++ ? ";" : "", why);
    if (held > shown)
        append (out, cap, &n, "%s and %zu more", shown ? ";" : "", held - shown);
    return false;
}

void
pingyi_view_snapshot_text (const pingyi_view_t *self, char *out, size_t cap)
{
    pingyi_time_text (self->snapshot_at, out, cap);
}

void
pingyi_time_text (int64_t at, char *out, size_t cap)
{
    time_t t = (time_t) at;
    struct tm tm;
    char z[8];
    if (!cap)
        return;
    if (at <= 0 || !localtime_r (&t, &tm) || !strftime (out, cap, "%Y-%m-%dT%H:%M:%S", &tm) ||
        strftime (z, sizeof z, "%z", &tm) != 5) {
        snprintf (out, cap, "unknown");
        return;
    }
    /* %z is +0800; ISO 8601 extended wants +08:00 */
    size_t n = strlen (out);
    snprintf (out + n, cap - n, "%.3s:%.2s", z, z + 3);
}

/*  ---------------------------------------------------------------------
    Rows  */

static const char *
kind_label (pingyi_unit_kind_t kind)
{
    switch (kind) {
    case PINGYI_UNIT_TOWN:
        return "镇/街道";
    case PINGYI_UNIT_DEPARTMENT:
        return "部门";
    case PINGYI_UNIT_ENTERPRISE:
        return "企业";
    case PINGYI_UNIT_SCHOOL:
        return "学校";
    case PINGYI_UNIT_OTHER:
        return "其他";
    }
    return "?";
}

#define KIND_COUNT 5

/*  Allocate the rows of every level and fill their ids, names, parents and
    sources.  0 / -1 (out of memory).  */
static int
make_rows (view_t *self)
{
    const pingyi_election_t *e = self->pub.election;
    size_t n[PINGYI_LEVEL_COUNT_] = {0};
    bool kind_used[KIND_COUNT] = {false};
    n[PINGYI_LEVEL_SUBJECT] = e->subject_count;
    n[PINGYI_LEVEL_UNIT] = e->unit_count;
    for (size_t u = 0; u < e->unit_count; u++) {
        pingyi_unit_kind_t k = e->units[u].kind;
        n[PINGYI_LEVEL_TOWN] += k == PINGYI_UNIT_TOWN;
        n[PINGYI_LEVEL_DEPARTMENT] += k == PINGYI_UNIT_DEPARTMENT;
        kind_used[k] = true;
    }
    for (size_t k = 0; k < KIND_COUNT; k++)
        n[PINGYI_LEVEL_KIND] += kind_used[k];
    n[PINGYI_LEVEL_DISTRICT] = e->district_count;
    n[PINGYI_LEVEL_CITY] = 1;

    size_t total = 0;
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++) {
        self->row_base[l] = total;
        total += n[l];
    }
    self->total_rows = total;
    self->cells = calloc (total * self->stride, sizeof *self->cells);
    self->ballots = calloc (total * (e->category_count + 1), sizeof *self->ballots);
    size_t groups = e->venue_count * e->category_count;
    self->group_b = calloc (groups ? groups : 1, sizeof *self->group_b);
    self->group_hidden = calloc (groups ? groups : 1, sizeof *self->group_hidden);
    if (!self->cells || !self->ballots || !self->group_b || !self->group_hidden)
        return -1;
    size_t next_cell = 0;
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++) {
        pingyi_level_view_t *lv = &self->pub.levels[l];
        lv->level = (pingyi_level_t) l;
        lv->row_count = n[l];
        lv->rows = calloc (n[l] ? n[l] : 1, sizeof *lv->rows);
        self->source[l] = calloc (n[l] ? n[l] : 1, sizeof *self->source[l]);
        if (!lv->rows || !self->source[l])
            return -1;
        for (size_t r = 0; r < n[l]; r++) {
            lv->rows[r].stats = self->cells + next_cell;
            next_cell += self->stride;
        }
    }

    pingyi_row_t *rows = self->pub.levels[PINGYI_LEVEL_SUBJECT].rows;
    for (size_t s = 0; s < e->subject_count; s++) {
        rows[s] = (pingyi_row_t){.id = e->subjects[s].id,
                                 .name = e->subjects[s].name,
                                 .parent = e->units[e->subjects[s].unit].id,
                                 .stats = rows[s].stats};
        self->source[PINGYI_LEVEL_SUBJECT][s] = s;
    }
    size_t at[PINGYI_LEVEL_COUNT_] = {0};
    for (size_t u = 0; u < e->unit_count; u++) {
        const pingyi_unit_t *unit = &e->units[u];
        int levels[2] = {PINGYI_LEVEL_UNIT, unit->kind == PINGYI_UNIT_TOWN         ? PINGYI_LEVEL_TOWN
                                            : unit->kind == PINGYI_UNIT_DEPARTMENT ? PINGYI_LEVEL_DEPARTMENT
                                                                                   : -1};
        for (int j = 0; j < 2; j++) {
            if (levels[j] < 0)
                continue;
            pingyi_row_t *row = &self->pub.levels[levels[j]].rows[at[levels[j]]];
            row->id = unit->id;
            row->name = unit->name;
            row->parent = e->districts[unit->district].id;
            self->source[levels[j]][at[levels[j]]++] = u;
        }
    }
    for (size_t k = 0; k < KIND_COUNT; k++) {
        if (!kind_used[k])
            continue;
        pingyi_row_t *row = &self->pub.levels[PINGYI_LEVEL_KIND].rows[at[PINGYI_LEVEL_KIND]];
        row->id = pingyi_unit_kind_name ((pingyi_unit_kind_t) k);
        row->name = kind_label ((pingyi_unit_kind_t) k);
        row->parent = "city";
        self->source[PINGYI_LEVEL_KIND][at[PINGYI_LEVEL_KIND]++] = k;
    }
    for (size_t d = 0; d < e->district_count; d++) {
        pingyi_row_t *row = &self->pub.levels[PINGYI_LEVEL_DISTRICT].rows[d];
        row->id = e->districts[d].id;
        row->name = e->districts[d].name;
        row->parent = "city";
        self->source[PINGYI_LEVEL_DISTRICT][d] = d;
    }
    pingyi_row_t *city = &self->pub.levels[PINGYI_LEVEL_CITY].rows[0];
    city->id = "city";
    city->name = "全市";
    city->parent = NULL;
    return 0;
}

/*  ---------------------------------------------------------------------
    Counting  */

static void
add_into (uint64_t *to, const uint64_t *from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        to[i] += from[i];
}

/*  The subject level's accumulators from the tally's count blocks (the
    accumulators are blocks too: acc[row] is one block, election/count.h):
    each venue's block of a subject is added to that subject's (a void
    venue's are left out), and each (venue, category) group's ballots as
    its blocks show them: the most marks any one (subject, item) cell of
    the group counts, over the items that take one mark per ballot.  */
static void
add_blocks (const pingyi_election_t *e, const pingyi_tally_t *tally, const bool *skip, const bool *one_mark,
            uint64_t *subjects, uint64_t *counted)
{
    const pingyi_count_shape_t *shape = pingyi_tally_shape (tally);
    for (size_t v = 0; v < e->venue_count; v++) {
        const pingyi_venue_t *venue = &e->venues[v];
        for (size_t pos = 0; pos < venue->subject_count; pos++) {
            const uint64_t *b = pingyi_tally_block (tally, v, pos);
            for (size_t item = 0; item < shape->items; item++) {
                if (!one_mark[item])
                    continue;
                for (size_t c = 0; c < shape->categories; c++) {
                    const uint64_t *cell = b + pingyi_count_index (shape, item, c, 0);
                    uint64_t sum = 0;
                    for (size_t m = 0; m < shape->marks; m++)
                        sum += cell[m];
                    if (sum > counted[v * shape->categories + c])
                        counted[v * shape->categories + c] = sum;
                }
            }
            if (!skip[v])
                add_into (subjects + venue->subjects[pos] * shape->width, b, shape->width);
        }
    }
}


/*  Turn one row's accumulators into its cells: per category, then all
    categories with the weighted score.  The cells are fresh from calloc:
    only what is not zero is written (a cell is 320 bytes, most of it the
    unused choices of a 32-wide array; not touching them twice matters at
    a city's tens of thousands of cells).  */
static void
finish_row (const view_t *self, const uint64_t *acc, size_t slots, pingyi_row_t *row)
{
    const pingyi_election_t *e = self->pub.election;
    size_t cats = e->category_count;
    for (size_t i = 0; i < e->item_count; i++) {
        const pingyi_choice_set_t *set = &e->choice_sets[e->items[i].choice_set];
        pingyi_cell_stats_t *all = &row->stats[i * (cats + 1) + cats];
        double weighted = 0, weights = 0;
        bool any = false;
        for (size_t c = 0; c < cats; c++) {
            const uint64_t *a = &acc[(i * cats + c) * slots];
            pingyi_cell_stats_t *cell = &row->stats[i * (cats + 1) + c];
            double points = 0;
            for (size_t m = 0; m < set->choice_count; m++) {
                cell->choices[m] = a[m];
                cell->valid += a[m];
                if (set->choices[m].favourable)
                    cell->favourable += a[m];
                if (set->choices[m].unfavourable)
                    cell->unfavourable += a[m];
                points += set->choices[m].points * (double) a[m];
                all->choices[m] += a[m];
            }
            cell->blank = a[slots - 2];
            cell->over = a[slots - 1];
            if (cell->valid) {
                cell->good_rate = (double) cell->favourable / (double) cell->valid;
                cell->bad_rate = (double) cell->unfavourable / (double) cell->valid;
                cell->score = points / (double) cell->valid;
                weighted += e->categories[c].weight * cell->score;
                weights += e->categories[c].weight;
                any = true;
            }
            else
                cell->good_rate = cell->bad_rate = cell->score = NAN;
            all->blank += cell->blank;
            all->over += cell->over;
            all->valid += cell->valid;
            all->favourable += cell->favourable;
            all->unfavourable += cell->unfavourable;
        }
        all->good_rate = all->valid ? (double) all->favourable / (double) all->valid : NAN;
        all->bad_rate = all->valid ? (double) all->unfavourable / (double) all->valid : NAN;
        /* categories that gave marks but all weigh 0: no weighted score */
        all->score = any && weights > 0 ? weighted / weights : NAN;
        if (e->items[i].kind != PINGYI_KIND_GRADED) /* no points: no score (nor rank) */
            for (size_t c = 0; c <= cats; c++)
                row->stats[i * (cats + 1) + c].score = NAN;
    }
}

/*  ---------------------------------------------------------------------
    Ranks  */

typedef struct {
    double score;
    size_t row;
} ranked_t;

static int
by_score_desc (const void *a, const void *b)
{
    const ranked_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return x->row < y->row ? -1 : x->row > y->row;
}

/*  Scores that differ only by the rounding of different sums of the same
    value (e.g. 0.3·80 + 0.7·80 against 80) are equal.  */
static bool
same_score (double a, double b)
{
    double scale = fmax (1.0, fmax (fabs (a), fabs (b)));
    return fabs (a - b) <= 1e-9 * scale;
}

int
pingyi_view_rank (const pingyi_view_t *self, pingyi_level_t level, size_t item, size_t category, int *ranks)
{
    if (item < self->election->item_count && self->election->items[item].ranking == PINGYI_RANKING_MAJORITY)
        return pingyi_view_mj_rank (self, level, item, category, ranks);
    return pingyi_view_score_rank (self, level, item, category, ranks);
}

int
pingyi_view_score_rank (const pingyi_view_t *self, pingyi_level_t level, size_t item, size_t category,
                        int *ranks)
{
    if ((unsigned) level >= PINGYI_LEVEL_COUNT_ || item >= self->election->item_count ||
        category > self->election->category_count)
        return -1;
    const pingyi_level_view_t *lv = &self->levels[level];
    size_t cats = self->election->category_count;
    ranked_t *order = malloc ((lv->row_count ? lv->row_count : 1) * sizeof *order);
    if (!order)
        return -1;
    size_t n = 0;
    for (size_t r = 0; r < lv->row_count; r++) {
        ranks[r] = 0;
        double score = lv->rows[r].stats[item * (cats + 1) + category].score;
        if (!isnan (score))
            order[n++] = (ranked_t){score, r};
    }
    qsort (order, n, sizeof *order, by_score_desc);
    /* 1, 2, 2, 4: a tie shares the rank of the first of its group */
    size_t group = 0;
    for (size_t k = 0; k < n; k++) {
        if (k == 0 || !same_score (order[group].score, order[k].score))
            group = k;
        ranks[order[k].row] = (int) group + 1;
    }
    free (order);
    return 0;
}

/*  ---------------------------------------------------------------------
    Majority judgment (rollup.h; docs/rollup.md "Majority judgment")

    The iterative rule on two profiles of N votes each, sorted best to
    worst, removes the majority grade v_{floor(m/2)+1} of the m votes left
    at each step; in positions of the sorted list that is the centre
    c = floor(N/2)+1, then outward one step at a time, alternately: for N
    odd the worse side first (c, c+1, c-1, c+2, ...: N = 5 gives 3 4 2 5
    1), for N even the better side first (c, c-1, c+1, ...: N = 4 gives 3
    2 4 1).  The first position where the two sorted lists differ decides.
    Where they differ is known from the cumulative counts: with C(g) the
    votes g or better, the lists differ exactly on the positions
    (min(Ca(g), Cb(g)), max(...)] over the grades g, and there the side
    with the larger C(g) has the better grade.  So the first difference is
    the position of those intervals that comes first in the order above,
    found in one pass over the grades.  Profiles of different sizes na, nb
    are compared as na·nb votes each (every vote of a taken nb times, of
    b na times; the same order as with lcm(na, nb) votes, which
    test_majority checks against the literal removal): only the shares
    matter.  */

uint32_t
pingyi_contest_winners (const uint64_t *choices, size_t choice_count, unsigned seats, bool *tie)
{
    /*  the seats-th largest vote count: the bar a winner must reach  */
    uint64_t top[PINGYI_MAX_CHOICES];
    size_t n = 0;
    for (size_t m = 0; m < choice_count && m < PINGYI_MAX_CHOICES; m++) {
        if (!choices[m])
            continue;
        size_t j = n++;
        while (j > 0 && top[j - 1] < choices[m]) {
            top[j] = top[j - 1];
            j--;
        }
        top[j] = choices[m];
    }
    uint32_t winners = 0;
    unsigned count = 0;
    if (seats > 0 && n > 0) {
        uint64_t bar = top[(n < seats ? n : seats) - 1];
        for (size_t m = 0; m < choice_count && m < PINGYI_MAX_CHOICES; m++)
            if (choices[m] && choices[m] >= bar) {
                winners |= 1u << m;
                count++;
            }
    }
    if (tie)
        *tie = count > seats;
    return winners;
}

/*  What every cell derives from its counts whichever way it was made (a
    count, a released view read back, the rater side): the majority grade
    of a graded item, the winners of a contest; nothing for a suppressed
    cell.  */
static void
derive_cell (const pingyi_election_t *e, size_t item, pingyi_cell_stats_t *cell)
{
    const pingyi_item_t *it = &e->items[item];
    size_t choices = e->choice_sets[it->choice_set].choice_count;
    cell->majority_grade = -1;
    cell->winners = 0;
    cell->tie = false;
    if (cell->suppressed)
        return;
    if (it->kind == PINGYI_KIND_GRADED)
        cell->majority_grade = pingyi_majority_grade (cell->choices, choices);
    else if (PINGYI_KIND_IS_CONTEST (it->kind))
        cell->winners = pingyi_contest_winners (cell->choices, choices, it->seats, &cell->tie);
}

int
pingyi_majority_grade (const uint64_t *choices, size_t choice_count)
{
    uint64_t n = 0, at_least = 0;
    for (size_t m = 0; m < choice_count; m++)
        n += choices[m];
    for (size_t m = 0; m < choice_count; m++) {
        at_least += choices[m];
        if (n > 0 && at_least > n - at_least) /* more than half are this grade or better */
            return (int) m;
    }
    return -1;
}

/*  Positions among na·nb votes: 128 bits, so no count can overflow.  */
__extension__ typedef unsigned __int128 mj_pos_t;

int
pingyi_majority_compare (const uint64_t *a, const uint64_t *b, size_t choice_count)
{
    uint64_t na = 0, nb = 0;
    for (size_t m = 0; m < choice_count; m++) {
        na += a[m];
        nb += b[m];
    }
    if (!na || !nb)
        return (na > 0) - (nb > 0);
    /* every vote of a taken nb times, of b na times: na·nb votes each (the
       same order as lcm(na, nb) votes: replicating both profiles k times
       more moves no first difference from one side of the other) */
    mj_pos_t n = (mj_pos_t) na * nb;
    mj_pos_t c = n / 2 + 1;
    int prefer_worse = (int) (n % 2); /* at equal distance, which side comes first */
    bool found = false;
    mj_pos_t best_dist = 0;
    int best_late = 0, sign = 0;
    uint64_t ca = 0, cb = 0;
    for (size_t m = 0; m + 1 < choice_count; m++) {
        ca += a[m];
        cb += b[m];
        mj_pos_t x = (mj_pos_t) ca * nb, y = (mj_pos_t) cb * na;
        if (x == y)
            continue;
        mj_pos_t lo = x < y ? x : y, hi = x < y ? y : x;
        mj_pos_t dist;
        int late; /* 0: this position comes before another at the same distance */
        if (lo < c && c <= hi)
            dist = 0, late = 0;
        else if (hi < c) /* better side */
            dist = c - hi, late = prefer_worse;
        else /* lo >= c: worse side, position lo + 1 */
            dist = lo + 1 - c, late = !prefer_worse;
        if (!found || dist < best_dist || (dist == best_dist && late < best_late)) {
            found = true;
            best_dist = dist;
            best_late = late;
            sign = x > y ? 1 : -1; /* more votes this good or better: the better grade there */
        }
    }
    return sign;
}

/*  A row to rank, with its majority gauge as a quick first test: the
    majority grade, then key = 2 + p for a row whose larger share is p (p >
    q), 1 - q for the others, higher better (Balinski & Laraki's gauge,
    which the iterative rule agrees with wherever it decides: see
    test_majority).  Keys further apart than any rounding decide; closer
    ones, and equal grades and keys, go to the exact rule.  */
typedef struct {
    const uint64_t *choices;
    size_t choice_count;
    size_t row;
    int grade; /* the majority grade; choice_count when no valid vote */
    double key;
} mj_ranked_t;

static void
mj_gauge (mj_ranked_t *x)
{
    uint64_t n = 0, better = 0, worse = 0;
    for (size_t m = 0; m < x->choice_count; m++)
        n += x->choices[m];
    int g = pingyi_majority_grade (x->choices, x->choice_count);
    x->grade = g < 0 ? (int) x->choice_count : g;
    x->key = 0;
    if (g < 0)
        return;
    for (size_t m = 0; m < x->choice_count; m++) {
        if ((int) m < g)
            better += x->choices[m];
        if ((int) m > g)
            worse += x->choices[m];
    }
    x->key = better > worse ? 2.0 + (double) better / (double) n : 1.0 - (double) worse / (double) n;
}

/*  > 0: a ranks above b.  */
static int
mj_order (const mj_ranked_t *a, const mj_ranked_t *b)
{
    if (a->grade != b->grade)
        return a->grade < b->grade ? 1 : -1;
    if (fabs (a->key - b->key) > 1e-9)
        return a->key > b->key ? 1 : -1;
    return pingyi_majority_compare (a->choices, b->choices, a->choice_count);
}

static int
by_mj_desc (const void *x, const void *y)
{
    const mj_ranked_t *a = x, *b = y;
    int k = mj_order (a, b);
    if (k)
        return -k;
    return a->row < b->row ? -1 : a->row > b->row;
}

int
pingyi_view_mj_rank (const pingyi_view_t *self, pingyi_level_t level, size_t item, size_t category,
                     int *ranks)
{
    const pingyi_election_t *e = self->election;
    if ((unsigned) level >= PINGYI_LEVEL_COUNT_ || item >= e->item_count || category > e->category_count)
        return -1;
    const pingyi_level_view_t *lv = &self->levels[level];
    size_t cats = e->category_count;
    size_t choice_count = e->choice_sets[e->items[item].choice_set].choice_count;
    mj_ranked_t *order = malloc ((lv->row_count ? lv->row_count : 1) * sizeof *order);
    if (!order)
        return -1;
    size_t n = 0;
    for (size_t r = 0; r < lv->row_count; r++) {
        ranks[r] = 0;
        const pingyi_cell_stats_t *cell = &lv->rows[r].stats[item * (cats + 1) + category];
        if (!cell->suppressed) { /* a withheld cell has no votes to rank by */
            order[n] = (mj_ranked_t){cell->choices, choice_count, r, 0, 0};
            mj_gauge (&order[n++]);
        }
    }
    qsort (order, n, sizeof *order, by_mj_desc);
    /* 1, 2, 2, 4; rows without a valid vote compare equal: they share the
       rank after the last graded row */
    size_t group = 0;
    for (size_t k = 0; k < n; k++) {
        if (k == 0 || mj_order (&order[group], &order[k]))
            group = k;
        ranks[order[k].row] = (int) group + 1;
    }
    free (order);
    return 0;
}

/*  ---------------------------------------------------------------------
    Release (k-anonymity; docs/rollup.md "Release")

    What may be published is decided on two tables at once, because an
    observer holds both: the view's cells (row × category, and the row)
    and the raw tally's groups (venue × category: all the counters of the
    venue's raters of that category, and its by_category figure; the
    aggregator's GET /api/v1/tally).  A row's cell is the sum, over the
    venues that rate a subject of the row, of those groups' counters; a
    row's total is the sum of its category cells; a parent's cell the sum
    of its children's; a venue's accepted ballots the sum of its groups'.

    n of a group is its ballots, B; n of a cell (R, c) is Σ B(v, c) over
    the venues v (not void) whose form has a subject of R: G(R).  The
    unknown part of a cell is what the published groups do not give of it:
    the contributions of the hidden groups among G(R), drawn from
    U(R, c) = Σ B over those hidden groups.

    1.  Primary: a group with 0 < B < k is hidden; a cell with 0 < n < k
        is suppressed; a row with 0 < n < k is suppressed whole.
    2.  A suppressed cell must hide something: when U < k, the smallest
        published non-empty group of G(R) (in c; any category for a row)
        is hidden too.  A published cell must not give away a small hidden
        part: when 0 < U < k, likewise.
    3.  Lines: for every published total — a row over its categories, a
        parent over its children (unit over subjects; kind and district
        over units; the city over districts and over kinds; per category
        and for the rows themselves), a venue's accepted ballots over its
        groups — the suppressed members with n > 0 must together hide 0
        or at least k ballots (for the cells, their unknown parts, the
        hidden groups counted once), and in the view's lines they must
        not be exactly one (the total minus the published members would
        give that one cell whole, and with it whatever other line it
        protects).  Otherwise the smallest published member with n > 0
        is suppressed too (the total itself when none is left).
    Repeat 2 and 3 until nothing changes: every step only adds to what is
    withheld, so it ends.  A hidden group has B < k, or B ≥ k and was hidden
    for 2 or 3; hiding one with B ≥ k never makes a part small, so the
    repair does not spread.  Town and department rows are the unit rows'
    copies and take the unit rows' decisions.  */

typedef struct {
    view_t *v;
    const pingyi_election_t *e;
    size_t cats;
    uint64_t k;
    bool *sup;     /* [row × (cats + 1) + c]; c = cats: the row whole */
    size_t *g_off; /* G(row) = g_venue[g_off[row] .. g_off[row + 1]) */
    uint32_t *g_venue;
    uint32_t *stamp; /* by venue: for unions */
    uint32_t stamp_now;
    bool changed;
} rel_t;

static size_t
rel_row (const rel_t *r, int level, size_t row)
{
    return r->v->row_base[level] + row;
}

static uint64_t
rel_n (const rel_t *r, size_t row, size_t c)
{
    return r->v->ballots[row * (r->cats + 1) + c];
}

static bool *
rel_sup (rel_t *r, size_t row, size_t c)
{
    return &r->sup[row * (r->cats + 1) + c];
}

static void
rel_new_stamp (rel_t *r)
{
    if (++r->stamp_now == 0) {
        memset (r->stamp, 0, (r->e->venue_count ? r->e->venue_count : 1) * sizeof *r->stamp);
        r->stamp_now = 1;
    }
}

/*  Ballots of the hidden groups of venue v in category c (c = cats: any
    category), counted when v is not stamped yet; stamps v.  */
static uint64_t
rel_hidden_of (rel_t *r, uint32_t v, size_t c)
{
    if (r->stamp[v] == r->stamp_now)
        return 0;
    r->stamp[v] = r->stamp_now;
    uint64_t u = 0;
    for (size_t x = c == r->cats ? 0 : c; x < (c == r->cats ? r->cats : c + 1); x++)
        if (r->v->group_hidden[v * r->cats + x])
            u += r->v->group_b[v * r->cats + x];
    return u;
}

/*  U of (row, c), the rows' hidden groups counted once when several rows
    are summed (the caller starts a stamp).  */
static uint64_t
rel_unknown_add (rel_t *r, size_t row, size_t c)
{
    uint64_t u = 0;
    for (size_t i = r->g_off[row]; i < r->g_off[row + 1]; i++)
        u += rel_hidden_of (r, r->g_venue[i], c);
    return u;
}

static uint64_t
rel_unknown (rel_t *r, size_t row, size_t c)
{
    rel_new_stamp (r);
    return rel_unknown_add (r, row, c);
}

static void
rel_hide (rel_t *r, size_t v, size_t c)
{
    if (!r->v->group_hidden[v * r->cats + c]) {
        r->v->group_hidden[v * r->cats + c] = true;
        r->changed = true;
    }
}

/*  Hide the smallest published non-empty group among G(row) in category c
    (any category when c = cats).  False when there is none.  */
static bool
rel_hide_smallest (rel_t *r, size_t row, size_t c)
{
    size_t best_v = 0, best_c = 0;
    uint64_t best = 0;
    for (size_t i = r->g_off[row]; i < r->g_off[row + 1]; i++) {
        size_t v = r->g_venue[i];
        for (size_t x = c == r->cats ? 0 : c; x < (c == r->cats ? r->cats : c + 1); x++) {
            uint64_t b = r->v->group_b[v * r->cats + x];
            if (b && !r->v->group_hidden[v * r->cats + x] && (!best || b < best)) {
                best = b;
                best_v = v;
                best_c = x;
            }
        }
    }
    if (!best)
        return false;
    rel_hide (r, best_v, best_c);
    return true;
}

/*  Suppress (row, c); c = cats: the row whole, with every category cell.
    Rule 2 for the suppressed cell.  */
static void
rel_suppress (rel_t *r, size_t row, size_t c)
{
    bool *s = rel_sup (r, row, c);
    if (*s)
        return;
    *s = true;
    r->changed = true;
    if (c == r->cats)
        for (size_t x = 0; x < r->cats; x++)
            rel_suppress (r, row, x);
    if (rel_n (r, row, c) && rel_unknown (r, row, c) < r->k)
        rel_hide_smallest (r, row, c);
}

/*  Rule 3 on one line: members rows[0..n) in category c (c = cats: the rows
    whole) under a published total; the total is (total, c).  */
static void
rel_line (rel_t *r, const size_t *rows, size_t n, size_t total, size_t c)
{
    if (*rel_sup (r, total, c))
        return;
    rel_new_stamp (r);
    size_t suppressed = 0;
    uint64_t unknown = 0;
    for (size_t i = 0; i < n; i++)
        if (rel_n (r, rows[i], c) && *rel_sup (r, rows[i], c)) {
            suppressed++;
            unknown += rel_unknown_add (r, rows[i], c);
        }
    if (!suppressed || (suppressed >= 2 && unknown >= r->k))
        return;
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        uint64_t m = rel_n (r, rows[i], c);
        if (m && !*rel_sup (r, rows[i], c) && (best == SIZE_MAX || m < rel_n (r, rows[best], c)))
            best = i;
    }
    if (best != SIZE_MAX)
        rel_suppress (r, rows[best], c);
    else
        rel_suppress (r, total, c);
}

/*  A row over its categories: the members are (row, c) for every c.  */
static void
rel_row_line (rel_t *r, size_t row)
{
    if (*rel_sup (r, row, r->cats))
        return;
    size_t suppressed = 0;
    uint64_t unknown = 0;
    for (size_t c = 0; c < r->cats; c++)
        if (rel_n (r, row, c) && *rel_sup (r, row, c)) {
            suppressed++;
            unknown += rel_unknown (r, row, c); /* categories share no ballot */
        }
    if (!suppressed || (suppressed >= 2 && unknown >= r->k))
        return;
    size_t best = SIZE_MAX;
    for (size_t c = 0; c < r->cats; c++) {
        uint64_t m = rel_n (r, row, c);
        if (m && !*rel_sup (r, row, c) && (best == SIZE_MAX || m < rel_n (r, row, best)))
            best = c;
    }
    rel_suppress (r, row, best != SIZE_MAX ? best : r->cats);
}

/*  A venue's accepted ballots over its groups.  */
static void
rel_venue_line (rel_t *r, size_t v)
{
    uint64_t hidden = 0;
    for (size_t c = 0; c < r->cats; c++)
        if (r->v->group_hidden[v * r->cats + c])
            hidden += r->v->group_b[v * r->cats + c];
    if (!hidden || hidden >= r->k)
        return;
    size_t best = SIZE_MAX;
    for (size_t c = 0; c < r->cats; c++) {
        uint64_t b = r->v->group_b[v * r->cats + c];
        if (b && !r->v->group_hidden[v * r->cats + c] &&
            (best == SIZE_MAX || b < r->v->group_b[v * r->cats + best]))
            best = c;
    }
    if (best != SIZE_MAX)
        rel_hide (r, v, best);
}

/*  Children grouped by parent: kids[off[p] .. off[p + 1]) are the (global)
    rows under parent p.  */
typedef struct {
    int parent_level;
    size_t *off;
    size_t *kids;
} rel_tree_t;

static int
rel_tree (rel_t *r, rel_tree_t *t, int parent_level, int child_level, const size_t *parent_of)
{
    size_t np = r->v->pub.levels[parent_level].row_count, nc = r->v->pub.levels[child_level].row_count;
    t->parent_level = parent_level;
    t->off = calloc (np + 2, sizeof *t->off);
    t->kids = calloc (nc ? nc : 1, sizeof *t->kids);
    if (!t->off || !t->kids)
        return -1;
    for (size_t ch = 0; ch < nc; ch++)
        t->off[parent_of[ch] + 2]++;
    for (size_t p = 0; p < np; p++)
        t->off[p + 2] += t->off[p + 1];
    for (size_t ch = 0; ch < nc; ch++)
        t->kids[t->off[parent_of[ch] + 1]++] = rel_row (r, child_level, ch);
    return 0;
}

static void
rel_tree_lines (rel_t *r, const rel_tree_t *t)
{
    for (size_t p = 0; p < r->v->pub.levels[t->parent_level].row_count; p++)
        for (size_t c = 0; c <= r->cats; c++)
            rel_line (r, t->kids + t->off[p], t->off[p + 1] - t->off[p], rel_row (r, t->parent_level, p), c);
}

/*  G of every row: the venues (not void) that rate a subject of the row,
    each once, in venue order for subjects.  The subject rows a row holds
    come from subject_row (global row of each subject, per level).  */
static int
rel_venues (rel_t *r, const bool *skip, size_t *const *subject_row)
{
    const pingyi_election_t *e = r->e;
    size_t rows = r->v->total_rows;
    /* venues per subject */
    size_t *s_off = calloc (e->subject_count + 1, sizeof *s_off);
    size_t total = 0;
    for (size_t v = 0; v < e->venue_count; v++)
        if (!skip[v])
            total += e->venues[v].subject_count;
    uint32_t *s_venue = calloc (total ? total : 1, sizeof *s_venue);
    size_t *fill = calloc (e->subject_count + 1, sizeof *fill);
    /* subjects per row (for every level): counting sort */
    size_t *r_off = calloc (rows + 1, sizeof *r_off);
    size_t *r_subj = calloc (e->subject_count * PINGYI_LEVEL_COUNT_ + 1, sizeof *r_subj);
    size_t *r_fill = calloc (rows + 1, sizeof *r_fill);
    int rc = -1;
    if (!s_off || !s_venue || !fill || !r_off || !r_subj || !r_fill)
        goto done;
    for (size_t v = 0; v < e->venue_count; v++)
        if (!skip[v])
            for (size_t f = 0; f < e->venues[v].subject_count; f++)
                s_off[e->venues[v].subjects[f] + 1]++;
    for (size_t s = 0; s < e->subject_count; s++)
        s_off[s + 1] += s_off[s];
    for (size_t v = 0; v < e->venue_count; v++)
        if (!skip[v])
            for (size_t f = 0; f < e->venues[v].subject_count; f++) {
                size_t s = e->venues[v].subjects[f];
                s_venue[s_off[s] + fill[s]++] = (uint32_t) v;
            }
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++)
        for (size_t s = 0; s < e->subject_count; s++)
            if (subject_row[l][s] != SIZE_MAX)
                r_off[subject_row[l][s] + 1]++;
    for (size_t x = 0; x < rows; x++)
        r_off[x + 1] += r_off[x];
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++)
        for (size_t s = 0; s < e->subject_count; s++)
            if (subject_row[l][s] != SIZE_MAX) {
                size_t x = subject_row[l][s];
                r_subj[r_off[x] + r_fill[x]++] = s;
            }
    /* G(row): union of its subjects' venues, two passes (count, fill) */
    r->g_off = calloc (rows + 1, sizeof *r->g_off);
    if (!r->g_off)
        goto done;
    for (int pass = 0; pass < 2; pass++) {
        size_t at = 0;
        for (size_t x = 0; x < rows; x++) {
            rel_new_stamp (r);
            if (pass == 0)
                r->g_off[x] = at;
            for (size_t i = r_off[x]; i < r_off[x + 1]; i++) {
                size_t s = r_subj[i];
                for (size_t j = s_off[s]; j < s_off[s + 1]; j++) {
                    uint32_t v = s_venue[j];
                    if (r->stamp[v] == r->stamp_now)
                        continue;
                    r->stamp[v] = r->stamp_now;
                    if (pass == 1)
                        r->g_venue[at] = v;
                    at++;
                }
            }
        }
        if (pass == 0) {
            r->g_off[rows] = at;
            r->g_venue = calloc (at ? at : 1, sizeof *r->g_venue);
            if (!r->g_venue)
                goto done;
        }
    }
    rc = 0;
done:
    free (s_off);
    free (s_venue);
    free (fill);
    free (r_off);
    free (r_subj);
    free (r_fill);
    return rc;
}

/*  Decide the release and apply it to the cells.  kind_row: the kind
    level's row of each unit kind.  0 / -1 (out of memory).  */
static int
release (view_t *self, const bool *skip, const size_t *kind_row)
{
    const pingyi_election_t *e = self->pub.election;
    size_t cats = e->category_count;
    rel_t r = {.v = self, .e = e, .cats = cats, .k = self->pub.k};
    rel_tree_t trees[5] = {{0}};
    size_t *subject_row[PINGYI_LEVEL_COUNT_] = {NULL};
    size_t *parent[5] = {NULL};
    int rc = -1;
    r.sup = calloc (self->total_rows * (cats + 1), sizeof *r.sup);
    r.stamp = calloc (e->venue_count ? e->venue_count : 1, sizeof *r.stamp);
    if (!r.sup || !r.stamp)
        goto done;

    /* the row of each subject at each level (SIZE_MAX: none) */
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++) {
        subject_row[l] = malloc ((e->subject_count ? e->subject_count : 1) * sizeof *subject_row[l]);
        if (!subject_row[l])
            goto done;
        for (size_t s = 0; s < e->subject_count; s++)
            subject_row[l][s] = SIZE_MAX;
    }
    for (int l = PINGYI_LEVEL_UNIT; l <= PINGYI_LEVEL_DEPARTMENT; l++) {
        /* the unit levels: through the row of each unit */
        size_t *row_of_unit = calloc (e->unit_count ? e->unit_count : 1, sizeof *row_of_unit);
        if (!row_of_unit)
            goto done;
        for (size_t u = 0; u < e->unit_count; u++)
            row_of_unit[u] = SIZE_MAX;
        for (size_t row = 0; row < self->pub.levels[l].row_count; row++)
            row_of_unit[self->source[l][row]] = rel_row (&r, l, row);
        for (size_t s = 0; s < e->subject_count; s++)
            subject_row[l][s] = row_of_unit[e->subjects[s].unit];
        free (row_of_unit);
    }
    for (size_t s = 0; s < e->subject_count; s++) {
        const pingyi_unit_t *u = &e->units[e->subjects[s].unit];
        subject_row[PINGYI_LEVEL_SUBJECT][s] = rel_row (&r, PINGYI_LEVEL_SUBJECT, s);
        subject_row[PINGYI_LEVEL_KIND][s] = rel_row (&r, PINGYI_LEVEL_KIND, kind_row[u->kind]);
        subject_row[PINGYI_LEVEL_DISTRICT][s] = rel_row (&r, PINGYI_LEVEL_DISTRICT, u->district);
        subject_row[PINGYI_LEVEL_CITY][s] = rel_row (&r, PINGYI_LEVEL_CITY, 0);
    }
    if (rel_venues (&r, skip, subject_row))
        goto done;

    /* n of every (row, c) and row */
    for (size_t row = 0; row < self->total_rows; row++) {
        uint64_t *n = &self->ballots[row * (cats + 1)];
        for (size_t i = r.g_off[row]; i < r.g_off[row + 1]; i++)
            for (size_t c = 0; c < cats; c++)
                n[c] += self->group_b[r.g_venue[i] * cats + c];
        for (size_t c = 0; c < cats; c++)
            n[cats] += n[c];
    }

    /* the parent lines: unit ← subject, kind ← unit, district ← unit,
       city ← district, city ← kind */
    const pingyi_level_view_t *lv = self->pub.levels;
    size_t nmax = e->subject_count + e->unit_count + e->district_count + 8;
    for (int t = 0; t < 5; t++)
        if (!(parent[t] = calloc (nmax, sizeof *parent[t])))
            goto done;
    for (size_t s = 0; s < lv[PINGYI_LEVEL_SUBJECT].row_count; s++)
        parent[0][s] = e->subjects[self->source[PINGYI_LEVEL_SUBJECT][s]].unit;
    for (size_t u = 0; u < lv[PINGYI_LEVEL_UNIT].row_count; u++) {
        parent[1][u] = kind_row[e->units[u].kind];
        parent[2][u] = e->units[u].district;
    }
    /* parent[3] (districts) and parent[4] (kinds): all 0, the city */
    if (rel_tree (&r, &trees[0], PINGYI_LEVEL_UNIT, PINGYI_LEVEL_SUBJECT, parent[0]) ||
        rel_tree (&r, &trees[1], PINGYI_LEVEL_KIND, PINGYI_LEVEL_UNIT, parent[1]) ||
        rel_tree (&r, &trees[2], PINGYI_LEVEL_DISTRICT, PINGYI_LEVEL_UNIT, parent[2]) ||
        rel_tree (&r, &trees[3], PINGYI_LEVEL_CITY, PINGYI_LEVEL_DISTRICT, parent[3]) ||
        rel_tree (&r, &trees[4], PINGYI_LEVEL_CITY, PINGYI_LEVEL_KIND, parent[4]))
        goto done;

    /* 1. primary */
    for (size_t g = 0; g < e->venue_count * cats; g++)
        self->group_hidden[g] = self->group_b[g] > 0 && self->group_b[g] < r.k;
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++) {
        if (l == PINGYI_LEVEL_TOWN || l == PINGYI_LEVEL_DEPARTMENT)
            continue; /* copies of unit rows */
        for (size_t row = 0; row < lv[l].row_count; row++) {
            size_t x = rel_row (&r, l, row);
            for (size_t c = 0; c <= cats; c++)
                if (rel_n (&r, x, c) > 0 && rel_n (&r, x, c) < r.k)
                    rel_suppress (&r, x, c);
        }
    }
    /* 2 and 3 until nothing changes */
    do {
        r.changed = false;
        for (size_t v = 0; v < e->venue_count; v++)
            rel_venue_line (&r, v);
        for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++) {
            if (l == PINGYI_LEVEL_TOWN || l == PINGYI_LEVEL_DEPARTMENT)
                continue;
            for (size_t row = 0; row < lv[l].row_count; row++) {
                size_t x = rel_row (&r, l, row);
                for (size_t c = 0; c < cats; c++) {
                    if (*rel_sup (&r, x, c) || !rel_n (&r, x, c))
                        continue;
                    uint64_t u = rel_unknown (&r, x, c);
                    if (u > 0 && u < r.k)
                        rel_hide_smallest (&r, x, c);
                }
                rel_row_line (&r, x);
            }
        }
        for (int t = 0; t < 5; t++)
            rel_tree_lines (&r, &trees[t]);
    } while (r.changed);

    /* town and department rows take their unit's decisions */
    for (int l = PINGYI_LEVEL_TOWN; l <= PINGYI_LEVEL_DEPARTMENT; l++)
        for (size_t row = 0; row < lv[l].row_count; row++)
            memcpy (rel_sup (&r, rel_row (&r, l, row), 0),
                    rel_sup (&r, rel_row (&r, PINGYI_LEVEL_UNIT, self->source[l][row]), 0),
                    (cats + 1) * sizeof *r.sup);

    /* apply: wipe what is withheld */
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++)
        for (size_t row = 0; row < lv[l].row_count; row++) {
            size_t x = rel_row (&r, l, row);
            pingyi_row_t *rw = &self->pub.levels[l].rows[row];
            rw->suppressed = *rel_sup (&r, x, cats);
            for (size_t c = 0; c <= cats; c++)
                if (*rel_sup (&r, x, c)) {
                    if (c < cats)
                        self->pub.suppressed_cells++;
                    for (size_t i = 0; i < e->item_count; i++)
                        rw->stats[i * (cats + 1) + c].suppressed = true;
                }
        }
    for (size_t g = 0; g < e->venue_count * cats; g++)
        self->pub.hidden_groups += self->group_hidden[g];
    rc = 0;
done:
    for (int t = 0; t < 5; t++) {
        free (trees[t].off);
        free (trees[t].kids);
        free (parent[t]);
    }
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++)
        free (subject_row[l]);
    free (r.sup);
    free (r.stamp);
    free (r.g_off);
    free (r.g_venue);
    return rc;
}

/*  ---------------------------------------------------------------------
    The view  */

/*  Venue statuses and the totals over all venues; skip (may be NULL)
    receives the void venues.  */
static void
set_venues (view_t *self, const pingyi_tally_t *tally, const pingyi_venue_figures_t *figures, bool *skip)
{
    pingyi_view_t *view = &self->pub;
    const pingyi_election_t *e = view->election;
    for (size_t v = 0; v < e->venue_count; v++) {
        pingyi_venue_view_t *vv = &view->venues[v];
        if (tally)
            vv->figures = *pingyi_tally_figures (tally, v);
        else if (figures)
            vv->figures = figures[v];
        else {
            memset (&vv->figures, 0, sizeof vv->figures);
            vv->figures.issued = vv->figures.collected = vv->figures.sent = -1;
        }
        vv->figures.venue = (uint32_t) v;
        vv->status = pingyi_venue_status (&vv->figures);
        if (skip)
            skip[v] = vv->status == PINGYI_VENUE_VOID;
        size_t *counts[] = {&view->venues_open, &view->venues_closed, &view->venues_reconciled,
                            &view->venues_void};
        (*counts[vv->status])++;
        view->accepted += vv->figures.accepted;
        view->blank_ballots += vv->figures.blank;
        view->duplicates += vv->figures.duplicates;
        view->rejected += vv->figures.rejected;
        for (size_t r = 0; r < PINGYI_REJECT_SLOTS; r++)
            view->rejected_by[r] += vv->figures.rejected_by[r];
    }
    view->final = pingyi_view_final (view, -1, NULL);
}

/*  Zero the figures of every suppressed cell (the release has counted
    them into the totals above already), then rank every level.  */
static int
wipe_and_rank (view_t *self)
{
    pingyi_view_t *view = &self->pub;
    size_t most = 0;
    for (size_t x = 0; x < self->total_rows * self->stride; x++) {
        pingyi_cell_stats_t *cell = &self->cells[x];
        if (cell->suppressed) {
            memset (cell, 0, sizeof *cell);
            cell->suppressed = true;
            cell->good_rate = cell->bad_rate = cell->score = NAN;
        }
    }
    /* majority grades and winners: every cell, here only (both ways to a
       view pass) */
    const pingyi_election_t *e = view->election;
    for (size_t x = 0; x < self->total_rows * self->stride; x++)
        derive_cell (e, (x % self->stride) / (e->category_count + 1), &self->cells[x]);
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++)
        if (view->levels[l].row_count > most)
            most = view->levels[l].row_count;
    int *ranks = calloc (most ? most : 1, sizeof *ranks);
    if (!ranks)
        return -1;
    /* the ranks of every (level, item, category), kept in the cells: the
       item's own ranking (its "ranking") in every cell, the other one in
       the all-categories cell only (ranking every category both ways
       doubled the view's time on big elections); the row's rank is the
       rank item's own, all categories */
    size_t cats = e->category_count;
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++) {
        pingyi_level_view_t *lv = &view->levels[l];
        for (size_t i = 0; i < e->item_count; i++)
            for (size_t c = 0; c <= cats && e->items[i].kind == PINGYI_KIND_GRADED; c++) {
                int own = e->items[i].ranking == PINGYI_RANKING_MAJORITY;
                for (int how = 0; how < 2; how++) {
                    if (how != own && c != cats)
                        continue; /* the other ranking: all categories only */
                    int rc = how ? pingyi_view_mj_rank (view, (pingyi_level_t) l, i, c, ranks)
                                 : pingyi_view_score_rank (view, (pingyi_level_t) l, i, c, ranks);
                    if (rc) {
                        free (ranks);
                        return -1;
                    }
                    for (size_t r = 0; r < lv->row_count; r++) {
                        pingyi_cell_stats_t *cell = &lv->rows[r].stats[i * (cats + 1) + c];
                        *(how ? &cell->mj_rank : &cell->score_rank) = ranks[r];
                    }
                }
            }
        for (size_t r = 0; r < lv->row_count; r++) {
            const pingyi_cell_stats_t *cell = &lv->rows[r].stats[view->rank_item * (cats + 1) + cats];
            lv->rows[r].rank =
                e->items[view->rank_item].ranking == PINGYI_RANKING_MAJORITY ? cell->mj_rank : cell->score_rank;
        }
    }
    free (ranks);
    return 0;
}

/*  The view's frame: rank item, venues, rows.  */
static view_t *
view_alloc (const pingyi_election_t *e, uint32_t k)
{
    view_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pingyi_view_t *view = &self->pub;
    view->election = e;
    view->k = k ? k : 1;
    self->stride = e->item_count * (e->category_count + 1);
    view->rank_item = 0;
    for (size_t i = 0; i < e->item_count; i++)
        if (e->items[i].overall) {
            view->rank_item = i;
            break;
        }
    view->venues = calloc (e->venue_count ? e->venue_count : 1, sizeof *view->venues);
    if (!view->venues || make_rows (self)) {
        pingyi_view_destroy (&view);
        return NULL;
    }
    return self;
}

pingyi_view_t *
pingyi_view_new (const pingyi_election_t *election, const pingyi_tally_t *tally)
{
    return pingyi_view_new_k (election, tally, election->k_anonymity);
}

pingyi_view_t *
pingyi_view_new_k (const pingyi_election_t *election, const pingyi_tally_t *tally, uint32_t k)
{
    const pingyi_election_t *e = election;
    view_t *self = view_alloc (e, k);
    if (!self)
        return NULL;
    pingyi_view_t *view = &self->pub;
    size_t cats = e->category_count;
    uint64_t *acc = NULL;
    bool *skip = NULL, *one_mark = NULL;

    /* Venues first: a void venue must be known before its counters come. */
    skip = calloc (e->venue_count ? e->venue_count : 1, sizeof *skip);
    one_mark = calloc (e->item_count ? e->item_count : 1, sizeof *one_mark);
    if (!skip || !one_mark)
        goto fail;
    set_venues (self, tally, NULL, skip);
    view->snapshot_at = (int64_t) time (NULL);
    bool single = false;
    for (size_t i = 0; i < e->item_count; i++)
        single |= one_mark[i] = e->items[i].max_choices <= 1;
    if (!single) /* no item counts one mark per ballot: the most marks is the bound */
        for (size_t i = 0; i < e->item_count; i++)
            one_mark[i] = true;

    const pingyi_count_shape_t *shape = pingyi_tally_shape (tally);
    size_t slots = shape->marks;
    size_t per_row = shape->width;
    acc = calloc ((self->total_rows ? self->total_rows : 1) * (per_row ? per_row : 1), sizeof *acc);
    if (!acc)
        goto fail;
    /* Level blocks of acc, in level order like the rows. */
    uint64_t *block[PINGYI_LEVEL_COUNT_];
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++)
        block[l] = acc + self->row_base[l] * per_row;

    add_blocks (e, tally, skip, one_mark, block[PINGYI_LEVEL_SUBJECT], self->group_b);
    /* the groups' ballots: the released by_category; what the counters
       show when a shard sent none (or 0 against counters) */
    for (size_t v = 0; v < e->venue_count; v++) {
        const pingyi_venue_figures_t *f = &view->venues[v].figures;
        for (size_t c = 0; c < cats; c++)
            if (c < f->category_count && c < PINGYI_FIGURES_CATEGORIES && f->by_category[c] > 0)
                self->group_b[v * cats + c] = f->by_category[c];
    }

    for (size_t s = 0; s < e->subject_count; s++)
        add_into (block[PINGYI_LEVEL_UNIT] + e->subjects[s].unit * per_row,
                  block[PINGYI_LEVEL_SUBJECT] + s * per_row, per_row);
    size_t kind_row[KIND_COUNT] = {0};
    for (size_t r = 0; r < view->levels[PINGYI_LEVEL_KIND].row_count; r++)
        kind_row[self->source[PINGYI_LEVEL_KIND][r]] = r;
    for (size_t u = 0; u < e->unit_count; u++) {
        const uint64_t *unit = block[PINGYI_LEVEL_UNIT] + u * per_row;
        add_into (block[PINGYI_LEVEL_KIND] + kind_row[e->units[u].kind] * per_row, unit, per_row);
        add_into (block[PINGYI_LEVEL_DISTRICT] + e->units[u].district * per_row, unit, per_row);
    }
    for (int l = PINGYI_LEVEL_TOWN; l <= PINGYI_LEVEL_DEPARTMENT; l++)
        for (size_t r = 0; r < view->levels[l].row_count; r++)
            memcpy (block[l] + r * per_row, block[PINGYI_LEVEL_UNIT] + self->source[l][r] * per_row,
                    per_row * sizeof *acc);
    for (size_t d = 0; d < e->district_count; d++)
        add_into (block[PINGYI_LEVEL_CITY], block[PINGYI_LEVEL_DISTRICT] + d * per_row, per_row);

    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++) {
        pingyi_level_view_t *lv = &view->levels[l];
        for (size_t r = 0; r < lv->row_count; r++)
            finish_row (self, block[l] + r * per_row, slots, &lv->rows[r]);
    }
    free (acc);
    acc = NULL;

    if (release (self, skip, kind_row) || wipe_and_rank (self))
        goto fail;
    free (one_mark);
    free (skip);
    return view;
fail:
    free (acc);
    free (one_mark);
    free (skip);
    pingyi_view_destroy (&view);
    return NULL;
}

pingyi_view_t *
pingyi_view_new_empty (const pingyi_election_t *election, const pingyi_venue_figures_t *figures, uint32_t k)
{
    view_t *self = view_alloc (election, k);
    if (!self)
        return NULL;
    set_venues (self, NULL, figures, NULL);
    return &self->pub;
}

void
pingyi_view_finish (pingyi_view_t *view)
{
    view_t *self = (view_t *) view;
    const pingyi_election_t *e = view->election;
    size_t cats = e->category_count;
    view->suppressed_cells = 0;
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++) {
        pingyi_level_view_t *lv = &view->levels[l];
        for (size_t r = 0; r < lv->row_count; r++) {
            pingyi_row_t *row = &lv->rows[r];
            for (size_t i = 0; i < e->item_count; i++) {
                const pingyi_choice_set_t *set = &e->choice_sets[e->items[i].choice_set];
                for (size_t c = 0; c <= cats; c++) {
                    pingyi_cell_stats_t *cell = &row->stats[i * (cats + 1) + c];
                    if (row->suppressed)
                        cell->suppressed = true;
                    if (cell->suppressed) {
                        if (i == 0 && c < cats)
                            view->suppressed_cells++;
                        continue;
                    }
                    cell->valid = cell->favourable = cell->unfavourable = 0;
                    for (size_t m = 0; m < set->choice_count; m++) {
                        cell->valid += cell->choices[m];
                        if (set->choices[m].favourable)
                            cell->favourable += cell->choices[m];
                        if (set->choices[m].unfavourable)
                            cell->unfavourable += cell->choices[m];
                    }
                    cell->good_rate = cell->valid ? (double) cell->favourable / (double) cell->valid : NAN;
                    cell->bad_rate = cell->valid ? (double) cell->unfavourable / (double) cell->valid : NAN;
                    if (!cell->valid)
                        cell->score = NAN;
                }
            }
        }
    }
    if (wipe_and_rank (self)) {
        /* out of memory for the ranks: no row is ranked */
        for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++)
            for (size_t r = 0; r < view->levels[l].row_count; r++)
                view->levels[l].rows[r].rank = 0;
    }
}

void
pingyi_view_set_group (pingyi_view_t *view, size_t venue, size_t category, uint64_t ballots, bool hidden)
{
    view_t *self = (view_t *) view;
    size_t cats = view->election->category_count;
    if (venue >= view->election->venue_count || category >= cats)
        return;
    self->group_hidden[venue * cats + category] = hidden;
    self->group_b[venue * cats + category] = hidden && !ballots ? 1 : ballots;
}

void
pingyi_view_destroy (pingyi_view_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    view_t *self = (view_t *) *self_p;
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++) {
        free (self->pub.levels[l].rows);
        free (self->source[l]);
    }
    free (self->cells);
    free (self->ballots);
    free (self->group_b);
    free (self->group_hidden);
    free (self->pub.venues);
    free (self);
    *self_p = NULL;
}

uint64_t
pingyi_view_ballots (const pingyi_view_t *view, pingyi_level_t level, size_t row, size_t category)
{
    const view_t *self = (const view_t *) view;
    size_t cats = view->election->category_count;
    if ((unsigned) level >= PINGYI_LEVEL_COUNT_ || row >= view->levels[level].row_count || category > cats)
        return 0;
    return self->ballots[(self->row_base[level] + row) * (cats + 1) + category];
}

bool
pingyi_view_group_hidden (const pingyi_view_t *view, size_t venue, size_t category)
{
    const view_t *self = (const view_t *) view;
    size_t cats = view->election->category_count;
    return venue < view->election->venue_count && category < cats &&
           self->group_hidden[venue * cats + category];
}

uint64_t
pingyi_view_group_ballots (const pingyi_view_t *view, size_t venue, size_t category)
{
    const view_t *self = (const view_t *) view;
    size_t cats = view->election->category_count;
    if (venue >= view->election->venue_count || category >= cats)
        return 0;
    return self->group_b[venue * cats + category];
}

const pingyi_cell_stats_t *
pingyi_view_stats (const pingyi_view_t *self, pingyi_level_t level, size_t row, size_t item, size_t category)
{
    if ((unsigned) level >= PINGYI_LEVEL_COUNT_ || row >= self->levels[level].row_count ||
        item >= self->election->item_count || category > self->election->category_count)
        return NULL;
    return &self->levels[level].rows[row].stats[item * (self->election->category_count + 1) + category];
}

int
pingyi_view_row_district (const pingyi_view_t *self, pingyi_level_t level, size_t row)
{
    const view_t *v = (const view_t *) self;
    const pingyi_election_t *e = self->election;
    if ((unsigned) level >= PINGYI_LEVEL_COUNT_ || row >= self->levels[level].row_count)
        return -1;
    switch (level) {
    case PINGYI_LEVEL_SUBJECT:
        return (int) e->units[e->subjects[v->source[level][row]].unit].district;
    case PINGYI_LEVEL_UNIT:
    case PINGYI_LEVEL_TOWN:
    case PINGYI_LEVEL_DEPARTMENT:
        return (int) e->units[v->source[level][row]].district;
    case PINGYI_LEVEL_DISTRICT:
        return (int) row;
    default:
        return -1;
    }
}

const char *
pingyi_unit_kind_label (pingyi_unit_kind_t kind)
{
    return kind_label (kind);
}

/*  ---------------------------------------------------------------------
    The rater side (rollup.h, docs/rollup.md "The rater side"): the same
    count blocks and the same finish_row, grouped by venue, by the
    venue's district or by category instead of by the subject's unit.  */

static const char *rater_by_names[PINGYI_RATER_COUNT_] = {"venue", "district", "category"};

const char *
pingyi_rater_by_name (pingyi_rater_by_t by)
{
    return (unsigned) by < PINGYI_RATER_COUNT_ ? rater_by_names[by] : "?";
}

int
pingyi_rater_by_parse (const char *name)
{
    for (int b = 0; name && b < PINGYI_RATER_COUNT_; b++)
        if (!strcmp (name, rater_by_names[b]))
            return b;
    return -1;
}

int
pingyi_view_find_row (const pingyi_view_t *view, pingyi_level_t level, const char *id)
{
    if ((unsigned) level >= PINGYI_LEVEL_COUNT_ || !id)
        return -1;
    const pingyi_level_view_t *lv = &view->levels[level];
    for (size_t r = 0; r < lv->row_count; r++)
        if (!strcmp (lv->rows[r].id, id))
            return (int) r;
    return -1;
}

int
pingyi_view_find_row_named (const pingyi_view_t *view, pingyi_level_t level, const char *text, char *why,
                            size_t why_cap)
{
    if (why_cap)
        why[0] = '\0';
    int row = pingyi_view_find_row (view, level, text);
    if (row >= 0 || !text || (unsigned) level >= PINGYI_LEVEL_COUNT_)
        return row;
    const pingyi_level_view_t *lv = &view->levels[level];
    size_t found = 0, n = 0;
    char ids[160] = "";
    for (size_t r = 0; r < lv->row_count; r++)
        if (lv->rows[r].name && !strcmp (lv->rows[r].name, text)) {
            if (!found++)
                row = (int) r;
            if (found <= 4 && n < sizeof ids)
                n += (size_t) snprintf (ids + n, sizeof ids - n, "%s%.32s", found > 1 ? ", " : "", lv->rows[r].id);
        }
    if (found == 1)
        return row;
    if (!found)
        return -1;
    snprintf (why, why_cap, "\"%.64s\" is the name of %zu %ss (%s%s): give the id", text, found,
              pingyi_level_name (level), ids, found > 4 ? ", ..." : "");
    return -2;
}

/*  Whether subject s is one of the subjects of (level, row).  */
static bool
side_subject_in (const view_t *self, pingyi_level_t level, size_t row, size_t s)
{
    const pingyi_election_t *e = self->pub.election;
    size_t unit = e->subjects[s].unit;
    switch (level) {
    case PINGYI_LEVEL_SUBJECT:
        return s == row;
    case PINGYI_LEVEL_UNIT:
    case PINGYI_LEVEL_TOWN:
    case PINGYI_LEVEL_DEPARTMENT:
        return self->source[level][row] == unit;
    case PINGYI_LEVEL_KIND:
        return self->source[level][row] == (size_t) e->units[unit].kind;
    case PINGYI_LEVEL_DISTRICT:
        return self->source[level][row] == e->units[unit].district;
    case PINGYI_LEVEL_CITY:
        return true;
    default:
        return false;
    }
}

pingyi_side_view_t *
pingyi_side_view_new (const pingyi_view_t *view, const pingyi_tally_t *tally, pingyi_rater_by_t by,
                      pingyi_level_t of_level, size_t of_row)
{
    if (!view || !tally || (unsigned) by >= PINGYI_RATER_COUNT_ || (unsigned) of_level >= PINGYI_LEVEL_COUNT_ ||
        of_row >= view->levels[of_level].row_count)
        return NULL;
    const view_t *base = (const view_t *) view; /* pub is view_t's first member */
    const pingyi_election_t *e = view->election;
    const pingyi_count_shape_t *shape = pingyi_tally_shape (tally);
    size_t cats = e->category_count, width = shape->width, slots = shape->marks;
    pingyi_side_view_t *self = calloc (1, sizeof *self);
    bool *in = calloc (e->subject_count ? e->subject_count : 1, sizeof *in);
    bool *rated = calloc (e->venue_count ? e->venue_count : 1, sizeof *rated); /* venue, not void, rates one */
    size_t *row_of = calloc (e->venue_count ? e->venue_count : 1, sizeof *row_of);
    uint64_t *acc = NULL;
    if (!self || !in || !rated || !row_of)
        goto fail;
    self->view = view;
    self->by = by;
    self->of_level = of_level;
    self->of_row = of_row;
    for (size_t s = 0; s < e->subject_count; s++)
        in[s] = side_subject_in (base, of_level, of_row, s);
    for (size_t v = 0; v < e->venue_count; v++)
        if (view->venues[v].status != PINGYI_VENUE_VOID)
            for (size_t f = 0; f < e->venues[v].subject_count; f++)
                rated[v] |= in[e->venues[v].subjects[f]];

    /* the rows */
    size_t n = by == PINGYI_RATER_DISTRICT ? e->district_count : by == PINGYI_RATER_CATEGORY ? cats : 0;
    if (by == PINGYI_RATER_VENUE)
        for (size_t v = 0; v < e->venue_count; v++)
            n += rated[v];
    size_t stride = e->item_count * (cats + 1);
    self->row_count = n;
    self->rows = calloc (n ? n : 1, sizeof *self->rows);
    self->source = calloc (n ? n : 1, sizeof *self->source);
    self->ballots = calloc ((n ? n : 1) * (cats + 1), sizeof *self->ballots);
    self->cells = calloc ((n ? n : 1) * (stride ? stride : 1), sizeof *self->cells);
    acc = calloc ((n ? n : 1) * (width ? width : 1), sizeof *acc);
    if (!self->rows || !self->source || !self->ballots || !self->cells || !acc)
        goto fail;
    size_t at = 0;
    for (size_t x = 0; x < (by == PINGYI_RATER_VENUE ? e->venue_count : n); x++) {
        if (by == PINGYI_RATER_VENUE && !rated[x])
            continue;
        pingyi_row_t *row = &self->rows[at];
        row->stats = self->cells + at * stride;
        self->source[at] = x;
        if (by == PINGYI_RATER_VENUE) {
            *row = (pingyi_row_t){.id = e->venues[x].id, .name = e->venues[x].name,
                                  .parent = e->districts[e->venues[x].district].id, .stats = row->stats};
            row_of[x] = at;
        }
        else if (by == PINGYI_RATER_DISTRICT)
            *row = (pingyi_row_t){.id = e->districts[x].id, .name = e->districts[x].name, .parent = "city",
                                  .stats = row->stats};
        else
            *row = (pingyi_row_t){.id = e->categories[x].id, .name = e->categories[x].name, .stats = row->stats};
        at++;
    }
    if (by == PINGYI_RATER_DISTRICT)
        for (size_t v = 0; v < e->venue_count; v++)
            row_of[v] = e->venues[v].district;

    /* the counts: the same blocks as the subject side, another key (by
       venue or by the venue's district; by category the rows are the
       view's own cells, below) */
    for (size_t v = 0; v < e->venue_count && by != PINGYI_RATER_CATEGORY; v++) {
        if (!rated[v])
            continue;
        for (size_t pos = 0; pos < e->venues[v].subject_count; pos++) {
            const uint64_t *b = pingyi_tally_block (tally, v, pos);
            if (b && in[e->venues[v].subjects[pos]])
                add_into (acc + row_of[v] * width, b, width);
        }
    }
    /* (a category row's other categories: empty cells, NAN rates) */
    for (size_t r = 0; r < n; r++)
        finish_row (base, acc + r * width, slots, &self->rows[r]);
    /* by category, a row's cells are the subject-side cells (filter row,
       c): taken from the view itself, so a view read back (whose released
       tally lacks the withheld groups) gives the same rows as the count */
    if (by == PINGYI_RATER_CATEGORY)
        for (size_t r = 0; r < n; r++) {
            size_t c = self->source[r];
            for (size_t i = 0; i < e->item_count; i++) {
                pingyi_cell_stats_t cell = *pingyi_view_stats (view, of_level, of_row, i, c);
                cell.mj_rank = cell.score_rank = 0; /* no ranks on the rater side */
                self->rows[r].stats[i * (cats + 1) + c] = cell;
                if (!(e->categories[c].weight > 0)) /* as finish_row: no weighted score */
                    cell.score = NAN;
                self->rows[r].stats[i * (cats + 1) + cats] = cell;
            }
        }

    /* the release: a cell is published only as a sum of published groups
       (by category: the view's own decision for the filter row's cell) */
    for (size_t r = 0; r < n; r++) {
        bool *supp = calloc (cats + 1, sizeof *supp);
        if (!supp)
            goto fail;
        uint64_t *nb = &self->ballots[r * (cats + 1)];
        for (size_t v = 0; v < e->venue_count; v++) {
            if (!rated[v] || (by != PINGYI_RATER_CATEGORY && row_of[v] != r))
                continue;
            for (size_t c = 0; c < cats; c++) {
                if (by == PINGYI_RATER_CATEGORY && c != self->source[r])
                    continue;
                uint64_t b = pingyi_view_group_ballots (view, v, c);
                nb[c] += b;
                if (b && pingyi_view_group_hidden (view, v, c))
                    supp[c] = true;
            }
        }
        if (by == PINGYI_RATER_CATEGORY) {
            size_t c = self->source[r];
            const pingyi_cell_stats_t *vc = pingyi_view_stats (view, of_level, of_row, 0, c);
            supp[c] = vc && vc->suppressed;
            /* the view's count of the cell's ballots; a view read back has
               none: the groups' sum above (a hidden group counts 1) */
            uint64_t counted = pingyi_view_ballots (view, of_level, of_row, c);
            if (counted > nb[c])
                nb[c] = counted;
        }
        for (size_t c = 0; c < cats; c++) {
            nb[cats] += nb[c];
            if (nb[c] && supp[c])
                supp[cats] = true;
        }
        bool whole = true;
        for (size_t c = 0; c <= cats; c++) {
            whole &= supp[c] || (c < cats && !nb[c]);
            if (!supp[c])
                continue;
            for (size_t i = 0; i < e->item_count; i++) {
                pingyi_cell_stats_t *cell = &self->rows[r].stats[i * (cats + 1) + c];
                memset (cell, 0, sizeof *cell);
                cell->suppressed = true;
                cell->good_rate = cell->bad_rate = cell->score = NAN;
            }
            self->suppressed_cells++;
        }
        self->rows[r].suppressed = supp[cats] && whole;
        free (supp);
    }
    for (size_t r = 0; r < n; r++)
        for (size_t x = 0; x < stride; x++)
            derive_cell (e, x / (cats + 1), &self->rows[r].stats[x]);
    free (acc);
    free (in);
    free (rated);
    free (row_of);
    return self;
fail:
    free (acc);
    free (in);
    free (rated);
    free (row_of);
    pingyi_side_view_destroy (&self);
    return NULL;
}

void
pingyi_side_view_destroy (pingyi_side_view_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pingyi_side_view_t *self = *self_p;
    free (self->rows);
    free (self->source);
    free (self->ballots);
    free (self->cells);
    free (self);
    *self_p = NULL;
}

const pingyi_cell_stats_t *
pingyi_side_view_stats (const pingyi_side_view_t *self, size_t row, size_t item, size_t category)
{
    size_t cats = self->view->election->category_count;
    if (row >= self->row_count || item >= self->view->election->item_count || category > cats)
        return NULL;
    return &self->rows[row].stats[item * (cats + 1) + category];
}

int
pingyi_side_of_parse (const char *subject, const char *unit, const char *of, pingyi_level_t *level,
                      const char **id, char *why, size_t why_cap)
{
    if (!!subject + !!unit + !!of > 1) {
        snprintf (why, why_cap, "give one of subject, unit, of");
        return -1;
    }
    char name[32] = "city";
    *id = "city";
    if (subject)
        snprintf (name, sizeof name, "subject"), *id = subject;
    else if (unit)
        snprintf (name, sizeof name, "unit"), *id = unit;
    else if (of) {
        const char *eq = strchr (of, '=');
        if (!eq || (size_t) (eq - of) >= sizeof name) {
            snprintf (why, why_cap, "of: expected LEVEL=ID (unit=u01, district=d1, ...)");
            return -1;
        }
        snprintf (name, sizeof name, "%.*s", (int) (eq - of), of);
        *id = eq + 1;
    }
    int l = pingyi_level_parse (name);
    if (l < 0) {
        snprintf (why, why_cap, "of: unknown level \"%.31s\"", name);
        return -1;
    }
    *level = (pingyi_level_t) l;
    return 0;
}
