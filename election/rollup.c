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

    Invariants: every row of every level has item_count × (category_count
    + 1) cells; a cell's choices, blank and over are sums of raw counters;
    rates and scores are NAN, never 0, when there is nothing to divide by.
    The view points into the election (ids, names): the election outlives
    the view.  */
#include "rollup.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/*  The public view, plus what the report needs and rollup.h does not
    show: the definition index behind each row.  */
typedef struct {
    pingyi_view_t pub;
    size_t *source[PINGYI_LEVEL_COUNT_]; /* subject, unit, unit, unit, kind, district, 0 */
    pingyi_cell_stats_t *cells;
    size_t stride; /* cells per row: items × (categories + 1) */
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
pingyi_venue_status_t
pingyi_venue_status (const pingyi_venue_figures_t *f)
{
    if (!f->closed)
        return PINGYI_VENUE_OPEN;
    if (f->issued >= 0 && f->collected > f->issued)
        return PINGYI_VENUE_VOID;
    if (f->collected >= 0 && f->accepted > (uint64_t) f->collected)
        return PINGYI_VENUE_VOID;
    if (f->issued < 0 || f->collected < 0)
        return PINGYI_VENUE_CLOSED;
    if (f->sent >= 0 && f->accepted + f->rejected < (uint64_t) f->sent)
        return PINGYI_VENUE_CLOSED;
    return PINGYI_VENUE_RECONCILED;
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
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++)
        total += n[l];
    self->cells = calloc (total * self->stride, sizeof *self->cells);
    if (!self->cells)
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

/*  Accumulators: acc[row][item][category][slot], slot = choice index, then
    BLANK (slots - 2) and OVER (slots - 1) — the tally's own layout.  */
typedef struct {
    const pingyi_election_t *e;
    const bool *skip;   /* by venue: void, left out */
    uint64_t *subjects; /* the subject level's accumulators */
    size_t slots;
    size_t per_row; /* items × categories × slots */
} walk_t;

static void
add_counter (const pingyi_counter_key_t *key, uint64_t count, void *arg)
{
    walk_t *w = arg;
    if (w->skip[key->venue])
        return;
    size_t slot = key->mark == PINGYI_MARK_BLANK  ? w->slots - 2
                  : key->mark == PINGYI_MARK_OVER ? w->slots - 1
                                                  : key->mark;
    w->subjects[key->subject * w->per_row +
                ((size_t) key->item * w->e->category_count + key->category) * w->slots + slot] += count;
}

static void
add_into (uint64_t *to, const uint64_t *from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        to[i] += from[i];
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
    The view  */

pingyi_view_t *
pingyi_view_new (const pingyi_election_t *election, const pingyi_tally_t *tally)
{
    const pingyi_election_t *e = election;
    view_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pingyi_view_t *view = &self->pub;
    view->election = e;
    size_t cats = e->category_count;
    self->stride = e->item_count * (cats + 1);
    uint64_t *acc = NULL;
    bool *skip = NULL;
    int *ranks = NULL;

    view->rank_item = 0;
    for (size_t i = 0; i < e->item_count; i++)
        if (e->items[i].overall) {
            view->rank_item = i;
            break;
        }

    /* Venues first: a void venue must be known before its counters come. */
    view->venues = calloc (e->venue_count, sizeof *view->venues);
    skip = calloc (e->venue_count, sizeof *skip);
    if (!view->venues || !skip)
        goto fail;
    for (size_t v = 0; v < e->venue_count; v++) {
        pingyi_venue_view_t *vv = &view->venues[v];
        vv->figures = *pingyi_tally_figures (tally, v);
        vv->status = pingyi_venue_status (&vv->figures);
        skip[v] = vv->status == PINGYI_VENUE_VOID;
        size_t *counts[] = {&view->venues_open, &view->venues_closed, &view->venues_reconciled,
                            &view->venues_void};
        (*counts[vv->status])++;
        view->accepted += vv->figures.accepted;
        view->blank_ballots += vv->figures.blank;
        view->duplicates += vv->figures.duplicates;
        view->rejected += vv->figures.rejected;
        for (size_t r = 0; r < 16; r++)
            view->rejected_by[r] += vv->figures.rejected_by[r];
    }
    view->final = view->venues_open + view->venues_closed == 0;

    if (make_rows (self))
        goto fail;

    size_t widest = 0;
    for (size_t i = 0; i < e->choice_set_count; i++)
        if (e->choice_sets[i].choice_count > widest)
            widest = e->choice_sets[i].choice_count;
    size_t slots = widest + 2;
    size_t per_row = e->item_count * cats * slots;
    size_t total_rows = 0;
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++)
        total_rows += view->levels[l].row_count;
    acc = calloc (total_rows * per_row, sizeof *acc);
    if (!acc)
        goto fail;
    /* Level blocks of acc, in level order like the rows. */
    uint64_t *block[PINGYI_LEVEL_COUNT_];
    size_t offset = 0;
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++) {
        block[l] = acc + offset;
        offset += view->levels[l].row_count * per_row;
    }

    walk_t w = {
        .e = e, .skip = skip, .subjects = block[PINGYI_LEVEL_SUBJECT], .slots = slots, .per_row = per_row};
    pingyi_tally_each (tally, add_counter, &w);

    for (size_t s = 0; s < e->subject_count; s++)
        add_into (block[PINGYI_LEVEL_UNIT] + e->subjects[s].unit * per_row,
                  block[PINGYI_LEVEL_SUBJECT] + s * per_row, per_row);
    size_t kind_row[KIND_COUNT];
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

    size_t most = 0;
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++) {
        pingyi_level_view_t *lv = &view->levels[l];
        for (size_t r = 0; r < lv->row_count; r++)
            finish_row (self, block[l] + r * per_row, slots, &lv->rows[r]);
        if (lv->row_count > most)
            most = lv->row_count;
    }
    free (acc);
    acc = NULL;

    ranks = calloc (most ? most : 1, sizeof *ranks);
    if (!ranks)
        goto fail;
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++) {
        pingyi_level_view_t *lv = &view->levels[l];
        if (pingyi_view_rank (view, (pingyi_level_t) l, view->rank_item, cats, ranks))
            goto fail;
        for (size_t r = 0; r < lv->row_count; r++)
            lv->rows[r].rank = ranks[r];
    }
    free (ranks);
    free (skip);
    return view;
fail:
    free (ranks);
    free (acc);
    free (skip);
    pingyi_view_destroy (&view);
    return NULL;
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
    free (self->pub.venues);
    free (self);
    *self_p = NULL;
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
