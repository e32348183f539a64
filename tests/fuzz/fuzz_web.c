/*  fuzz_web.c — libFuzzer target: what a request hands the dashboard's
    guard and asset table (aggregator/web.c): the path (agg_web_find), the
    Authorization header and the pingyi_token cookie (agg_web_authorized),
    the ?token= value (agg_web_token_matches, agg_web_cookie), and a token
    given on the command line (agg_web_token_set).

    The input is split at the first three 0x00 bytes into path,
    Authorization, cookie and the rest (a token candidate).  The token
    required is "fuzz-token-0123456789abcdef".

    Promises checked (a broken one aborts): agg_web_find returns only
    entries of the embedded table, only for "/" or "/assets/NAME" with NAME
    plain ([A-Za-z0-9._-], not starting with '.'), never for a path with
    "..", "//" or '%'; a request is authorized without a token always, and
    with one only when the header is "Bearer " + the token (spaces around
    allowed, scheme in any case) or the cookie is the token; the token
    check agrees with plain string equality; a token that agg_web_token_set
    takes is 16..256 characters of A-Z a-z 0-9 . _ ~ - and the cookie it
    makes fits and carries HttpOnly and SameSite=Strict.  */
#include "web.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOKEN "fuzz-token-0123456789abcdef"

static void
check (bool ok)
{
    if (!ok)
        abort ();
}

/*  The header names the token exactly, the way the guard reads it.  */
static bool
header_is_token (const char *h)
{
    if (strncasecmp (h, "Bearer ", 7))
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    size_t len = strlen (h);
    while (len && (h[len - 1] == ' ' || h[len - 1] == '\t'))
        len--;
    return len == strlen (TOKEN) && !memcmp (h, TOKEN, len);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *buf = malloc (size + 4);
    if (!buf)
        return 0;
    memcpy (buf, data, size);
    memset (buf + size, 0, 4);
    const char *part[4];
    size_t at = 0;
    for (int i = 0; i < 4; i++) {
        part[i] = buf + (at < size ? at : size);
        at += strlen (part[i]) + 1;
    }
    const char *path = part[0], *auth = part[1], *cookie = part[2], *rest = part[3];

    const agg_web_asset_t *a = agg_web_find (path);
    if (a) {
        bool ours = false;
        for (size_t i = 0; i < agg_web_asset_count; i++)
            ours |= a == &agg_web_assets[i];
        check (ours && !strcmp (a->path, path));
        check (!strstr (path, "..") && !strstr (path, "//") && !strchr (path, '%'));
        check (!strcmp (path, "/") || !strncmp (path, "/assets/", 8));
    }

    agg_web_token_t none = {0}, tok;
    check (agg_web_authorized (&none, auth, cookie));
    char err[512];
    check (agg_web_token_set (&tok, TOKEN, err) == 0);
    bool want = header_is_token (auth) || !strcmp (cookie, TOKEN);
    check (agg_web_authorized (&tok, auth, cookie) == want);
    check (agg_web_token_matches (&tok, rest) == !strcmp (rest, TOKEN));

    agg_web_token_t other;
    if (agg_web_token_set (&other, rest, err) == 0) {
        size_t len = strlen (rest);
        check (len >= AGG_WEB_TOKEN_MIN && len <= AGG_WEB_TOKEN_MAX);
        check (strspn (rest, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-") == len);
        check (agg_web_token_matches (&other, rest));
        char cookie_out[AGG_WEB_TOKEN_MAX + 128];
        check (agg_web_cookie (rest, cookie_out, sizeof cookie_out) == 0);
        check (strstr (cookie_out, "; HttpOnly") && strstr (cookie_out, "SameSite=Strict"));
    }
    free (buf);
    return 0;
}
