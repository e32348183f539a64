/*  credit.c — the broker's byte credit (credit.h).  The sums never go
    below zero: a repayment or a write-off takes at most what is owed, so a
    late answer after a write-off cannot underflow the credit.  */
#include "credit.h"

uint64_t
pingyi_credit_limit (const pingyi_credit_t *self)
{
    uint64_t used = self->connections * PINGYI_CREDIT_PER_CONNECTION;
    uint64_t left = used < PINGYI_CREDIT_BUDGET ? PINGYI_CREDIT_BUDGET - used : 0;
    return left < PINGYI_CREDIT_MIN ? PINGYI_CREDIT_MIN : left > PINGYI_CREDIT_MAX ? PINGYI_CREDIT_MAX : left;
}

void
pingyi_credit_connected (pingyi_credit_t *self)
{
    self->connections++;
}

bool
pingyi_credit_disconnected (pingyi_credit_t *self)
{
    if (self->connections == 0)
        return false;
    self->connections--;
    return true;
}

bool
pingyi_credit_refuses (const pingyi_credit_t *self, const pingyi_route_t *w, uint64_t len)
{
    return w->owed_bytes && self->bytes + len > pingyi_credit_limit (self);
}

void
pingyi_credit_lend (pingyi_credit_t *self, pingyi_route_t *w, uint64_t len, int64_t now)
{
    if (!w->owed_bytes)
        w->last_answer_ms = now;
    w->owed_bytes += len;
    self->bytes += len;
}

void
pingyi_credit_repay (pingyi_credit_t *self, pingyi_routes_t *routes, pingyi_route_t *w,
                     const pingyi_ticket_t *t, int64_t now)
{
    if (!t->bytes)
        return;
    if (!w)
        w = pingyi_routes_by_serial (routes, t->worker);
    if (!w || w->serial != t->worker)
        return;
    uint64_t bytes = t->bytes < w->owed_bytes ? t->bytes : w->owed_bytes;
    w->owed_bytes -= bytes;
    self->bytes -= bytes < self->bytes ? bytes : self->bytes;
    if (now)
        w->last_answer_ms = now;
}

bool
pingyi_credit_overdue (const pingyi_route_t *w, int64_t now)
{
    return w->owed_bytes && now - w->last_answer_ms > PINGYI_CREDIT_FORGIVE_MS;
}

void
pingyi_credit_forgive (pingyi_credit_t *self, pingyi_route_t *w)
{
    self->bytes -= w->owed_bytes < self->bytes ? w->owed_bytes : self->bytes;
    w->owed_bytes = 0;
}
