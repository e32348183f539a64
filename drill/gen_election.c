/*  gen_election.c — `pingyi gen-election`: a larger citywide definition for
    drills and benchmarks (election.h describes the options).  A drill
    tool, not part of the model: it writes a file that the model's parser
    then checks like any other.  */
#include "gen_election.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define UNIT_NAME_MAX 96 /* a generated unit name, bytes */

/*  ---------------------------------------------------------------------
    Generator for drills and benchmarks.  Output is a pure function of the
    options: a splitmix64 stream seeded with opts->seed, fixed formatting,
    only ASCII and fixed Chinese text (nothing needs JSON escaping).  */

static uint64_t
splitmix64 (uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned
pick (uint64_t *state, unsigned n)
{
    return (unsigned) (splitmix64 (state) % n);
}

static int
cmp_unsigned (const void *a, const void *b)
{
    unsigned x = *(const unsigned *) a, y = *(const unsigned *) b;
    return x < y ? -1 : x > y;
}

int
pingyi_election_generate (const pingyi_gen_options_t *opts, FILE *out, char *err)
{
    static const char *const single_items[] = {
        "履行第一责任人职责", "基层组织建设（三会一课）", "发展党员与党员教育管理", "党费收缴与制度落实",
        "人才工作",           "党建引领中心工作",
    };
    static const char *const towns[] = {"东湖", "西山", "南岭", "北河", "青石", "白沙", "金桥", "新港"};
    static const char *const departments[] = {"区教育局党组",     "区卫健局党组", "区财政局党组",
                                              "区公安分局党委",   "区人社局党组", "区住建局党组",
                                              "区市场监管局党组", "区委办党支部"};
    const pingyi_gen_options_t *o = opts;
    if (o->districts < 1)
        return pingyi_fail (err, "generate: need at least 1 district");
    if (o->venues_per_district < 1)
        return pingyi_fail (err, "generate: need at least 1 venue per district");
    if ((uint64_t) o->districts * o->venues_per_district > PINGYI_MAX_VENUES)
        return pingyi_fail (err, "generate: %u venues is more than %d", o->districts * o->venues_per_district,
                            PINGYI_MAX_VENUES);
    if (o->subjects < o->districts || o->subjects > PINGYI_MAX_SUBJECTS)
        return pingyi_fail (err, "generate: subjects must be in %u..%d (at least one per district)",
                            o->districts, PINGYI_MAX_SUBJECTS);
    if (o->form_subjects < 1 || o->form_subjects > PINGYI_MAX_FORM_SUBJECTS)
        return pingyi_fail (err, "generate: form subjects must be in 1..%d", PINGYI_MAX_FORM_SUBJECTS);
    if (o->items < 1 || o->items > PINGYI_MAX_ITEMS)
        return pingyi_fail (err, "generate: items must be in 1..%d", PINGYI_MAX_ITEMS);
    if (o->shards < 1 || o->shards > PINGYI_MAX_SHARDS)
        return pingyi_fail (err, "generate: shards must be in 1..%d", PINGYI_MAX_SHARDS);

    uint64_t rng = o->seed;
    unsigned *form = malloc (PINGYI_MAX_FORM_SUBJECTS * sizeof *form);
    char (*unit_names)[UNIT_NAME_MAX] = malloc (o->subjects * sizeof *unit_names);
    if (!form || !unit_names) {
        free (form);
        free (unit_names);
        return pingyi_fail (err, "generate: out of memory");
    }

    fprintf (out, "{\n  \"version\": 1,\n  \"id\": \"drill-%" PRIu64 "\",\n", o->seed);
    fprintf (out, "  \"title\": \"全市基层党组织书记抓基层党建工作述职评议（演练，种子 %" PRIu64 "）\",\n",
             o->seed);
    fprintf (out, "  \"shards\": %u,\n", o->shards);
    fprintf (out, "  \"grades\": [\n"
                  "    {\"label\": \"好\", \"letter\": \"A\", \"points\": 100, \"favourable\": true},\n"
                  "    {\"label\": \"较好\", \"letter\": \"B\", \"points\": 80, \"favourable\": true},\n"
                  "    {\"label\": \"一般\", \"letter\": \"C\", \"points\": 60},\n"
                  "    {\"label\": \"差\", \"letter\": \"D\", \"points\": 0, \"unfavourable\": true}\n"
                  "  ],\n");
    fprintf (out, "  \"items\": [\n    {\"id\": \"overall\", \"name\": \"总体评价\", \"overall\": true}");
    for (unsigned i = 1; i < o->items; i++) {
        unsigned base = (i - 1) % 6, round = (i - 1) / 6;
        fprintf (out, ",\n    {\"id\": \"i%u\", \"name\": \"%s", i, single_items[base]);
        if (round)
            fprintf (out, "（%u）", round + 1);
        fprintf (out, "\"}");
    }
    fprintf (out, "\n  ],\n");
    fprintf (out, "  \"categories\": [\n"
                  "    {\"id\": \"leaders\", \"name\": \"领导班子成员\", \"weight\": 0.3},\n"
                  "    {\"id\": \"middle\", \"name\": \"中层干部\", \"weight\": 0.3},\n"
                  "    {\"id\": \"staff\", \"name\": \"一般干部\", \"weight\": 0.2},\n"
                  "    {\"id\": \"served\", \"name\": \"服务对象\", \"weight\": 0.2}\n"
                  "  ],\n");
    fprintf (out, "  \"districts\": [");
    for (unsigned d = 1; d <= o->districts; d++)
        fprintf (out, "%s\n    {\"id\": \"d%u\", \"name\": \"第%u区\"}", d > 1 ? "," : "", d, d);
    fprintf (out, "\n  ],\n");

    /*  District d gets subjects_in (d) subjects, numbered consecutively;
        about two subjects (a secretary and a deputy) per unit.  */
    unsigned per = o->subjects / o->districts, extra = o->subjects % o->districts;
#define SUBJECTS_IN(d) (per + ((d) <= extra ? 1u : 0u))
    fprintf (out, "  \"units\": [");
    unsigned unit = 0;
    for (unsigned d = 1; d <= o->districts; d++) {
        unsigned units = (SUBJECTS_IN (d) + 1) / 2;
        for (unsigned k = 0; k < units; k++) {
            unit++;
            unsigned roll = pick (&rng, 100);
            const char *kind;
            char *name = unit_names[unit - 1];
            if (roll < 35) {
                kind = "town";
                if (pick (&rng, 2))
                    snprintf (name, UNIT_NAME_MAX, "第%u区%s镇党委", d, towns[pick (&rng, 8)]);
                else
                    snprintf (name, UNIT_NAME_MAX, "第%u区%s街道党工委", d, towns[pick (&rng, 8)]);
            }
            else if (roll < 75) {
                kind = "department";
                snprintf (name, UNIT_NAME_MAX, "第%u区%s", d, departments[pick (&rng, 8)] + strlen ("区"));
            }
            else if (roll < 90) {
                kind = "enterprise";
                snprintf (name, UNIT_NAME_MAX, "第%u区%s集团党委", d, towns[pick (&rng, 8)]);
            }
            else {
                kind = "school";
                snprintf (name, UNIT_NAME_MAX, "第%u区第%u中学党委", d, k + 1);
            }
            fprintf (out,
                     "%s\n    {\"id\": \"u%u\", \"name\": \"%s\", \"kind\": \"%s\", \"district\": \"d%u\"}",
                     unit > 1 ? "," : "", unit, name, kind, d);
        }
    }
    fprintf (out, "\n  ],\n");

    fprintf (out, "  \"subjects\": [");
    unsigned subject = 0, unit_base = 0;
    for (unsigned d = 1; d <= o->districts; d++) {
        unsigned n = SUBJECTS_IN (d);
        for (unsigned k = 0; k < n; k++) {
            subject++;
            unsigned u = unit_base + k / 2 + 1;
            fprintf (out, "%s\n    {\"id\": \"s%u\", \"name\": \"%s%s\", \"unit\": \"u%u\", \"onsite\": %s}",
                     subject > 1 ? "," : "", subject, unit_names[u - 1], k % 2 ? "副书记" : "书记", u,
                     pick (&rng, 100) < 40 ? "true" : "false");
        }
        unit_base += (n + 1) / 2;
    }
    fprintf (out, "\n  ],\n");

    /*  Venue k of a district covers a window of its subjects starting at
        k * form_subjects (wrapping), so the venues together cover them all.  */
    fprintf (out, "  \"venues\": [");
    unsigned venue = 0, first = 1;
    for (unsigned d = 1; d <= o->districts; d++) {
        unsigned n = SUBJECTS_IN (d);
        unsigned m = n < o->form_subjects ? n : o->form_subjects;
        for (unsigned k = 0; k < o->venues_per_district; k++) {
            venue++;
            for (unsigned j = 0; j < m; j++)
                form[j] = first + (unsigned) (((uint64_t) k * m + j) % n);
            qsort (form, m, sizeof *form, cmp_unsigned);
            fprintf (out,
                     "%s\n    {\"id\": \"v%u\", \"name\": \"第%u区第%u会场\", \"district\": \"d%u\", "
                     "\"issued\": %u, \"subjects\": [",
                     venue > 1 ? "," : "", venue, d, k + 1, d, 30 + pick (&rng, 171));
            for (unsigned j = 0; j < m; j++)
                fprintf (out, "%s\"s%u\"", j ? ", " : "", form[j]);
            fprintf (out, "]}");
        }
        first += n;
    }
    fprintf (out, "\n  ]\n}\n");
#undef SUBJECTS_IN
    free (form);
    free (unit_names);
    if (ferror (out))
        return pingyi_fail (err, "generate: write error");
    return 0;
}
