/*  web.c — the dashboard's embedded assets and its access token (web.h).

    Why hashes: the token is compared as BLAKE2b(token) against
    BLAKE2b(presented) with sodium_memcmp.  Both sides are then 32 bytes
    whatever was presented, so neither the position of the first wrong byte
    nor the length of the token leaks through timing, and the process never
    keeps the token itself after start-up.  */
#define _GNU_SOURCE
#include "web.h"

#include "common.h"
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define ASSETS_PREFIX "/assets/"

const agg_web_header_t agg_web_page_headers[] = {
    {"Content-Security-Policy", AGG_WEB_CSP},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
    {"Cross-Origin-Opener-Policy", "same-origin"},
    {"Cache-Control", "no-store"},
};
const size_t agg_web_page_header_count = sizeof agg_web_page_headers / sizeof agg_web_page_headers[0];

const char *
agg_web_content_type (const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},    {".svg", "image/svg+xml"},
        {".json", "application/json; charset=utf-8"}, {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = name ? strrchr (name, '.') : NULL;
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (!strcmp (dot, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

/*  A name of ours: [A-Za-z0-9._-]+, not starting with '.'.  */
static bool
plain_name (const char *s)
{
    if (!*s || *s == '.')
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
              *s == '_' || *s == '-'))
            return false;
    return true;
}

const agg_web_asset_t *
agg_web_find (const char *url)
{
    if (!url)
        return NULL;
    if (strcmp (url, "/") != 0) {
        if (strncmp (url, ASSETS_PREFIX, strlen (ASSETS_PREFIX)) != 0 ||
            !plain_name (url + strlen (ASSETS_PREFIX)))
            return NULL;
    }
    for (size_t i = 0; i < agg_web_asset_count; i++)
        if (!strcmp (agg_web_assets[i].path, url))
            return &agg_web_assets[i];
    return NULL;
}

static bool
token_char (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '~' || c == '-';
}

static void
hash_of (uint8_t out[32], const char *s, size_t len)
{
    crypto_generichash (out, 32, (const unsigned char *) s, len, NULL, 0);
}

int
agg_web_token_set (agg_web_token_t *self, const char *token, char *err)
{
    memset (self, 0, sizeof *self);
    size_t len = token ? strlen (token) : 0;
    if (len < AGG_WEB_TOKEN_MIN)
        return pingyi_fail (err, "the HTTP token is %s: at least %d characters (e.g. openssl rand -hex 32)",
                            len ? "too short" : "empty", AGG_WEB_TOKEN_MIN);
    if (len > AGG_WEB_TOKEN_MAX)
        return pingyi_fail (err, "the HTTP token is too long: at most %d characters", AGG_WEB_TOKEN_MAX);
    for (size_t i = 0; i < len; i++)
        if (!token_char (token[i]))
            return pingyi_fail (
                err,
                "the HTTP token has a character other than A-Z a-z 0-9 . _ ~ - (at byte %zu): "
                "it must be usable in a URL and a cookie as it is",
                i + 1);
    if (sodium_init () < 0)
        return pingyi_fail (err, "libsodium cannot start");
    hash_of (self->hash, token, len);
    self->set = true;
    return 0;
}

int
agg_web_token_read_file (agg_web_token_t *self, const char *path, char *err)
{
    memset (self, 0, sizeof *self);
    /* the rule of every secret file (deploy/keys.h) */
    char why[PINGYI_ERR_MAX];
    char buf[AGG_WEB_TOKEN_FILE_MAX + 1];
    size_t got;
    int rc;
    if (pingyi_secret_read (path, "secret", buf, sizeof buf - 1, &got, why))
        rc = pingyi_fail (err, "--http-token-file %s", why);
    else if (got == sizeof buf - 1)
        rc = pingyi_fail (err, "--http-token-file %s: larger than %d bytes: not a token", path,
                          AGG_WEB_TOKEN_FILE_MAX);
    else {
        /* one trailing newline, as `echo` or an editor leaves it */
        if (got && buf[got - 1] == '\n')
            got--;
        if (got && buf[got - 1] == '\r')
            got--;
        buf[got] = 0;
        if (memchr (buf, 0, got))
            rc = pingyi_fail (err, "--http-token-file %s: holds a NUL byte: not a token", path);
        else {
            rc = agg_web_token_set (self, buf, why);
            if (rc)
                pingyi_fail (err, "--http-token-file %s: %s", path, why);
        }
    }
    sodium_memzero (buf, sizeof buf);
    return rc;
}

bool
agg_web_token_matches (const agg_web_token_t *self, const char *presented)
{
    if (!self || !self->set || !presented)
        return false;
    uint8_t h[32];
    hash_of (h, presented, strlen (presented));
    bool same = sodium_memcmp (h, self->hash, sizeof h) == 0;
    sodium_memzero (h, sizeof h);
    return same;
}

bool
agg_web_authorized (const agg_web_token_t *self, const char *authorization, const char *cookie)
{
    if (!self || !self->set)
        return true;
    bool ok = false;
    if (authorization && !strncasecmp (authorization, "Bearer ", 7)) {
        const char *t = authorization + 7;
        while (*t == ' ')
            t++;
        char copy[AGG_WEB_TOKEN_MAX + 2];
        size_t len = strlen (t);
        while (len && (t[len - 1] == ' ' || t[len - 1] == '\t'))
            len--;
        if (len < sizeof copy) {
            memcpy (copy, t, len);
            copy[len] = 0;
            ok |= agg_web_token_matches (self, copy);
        }
        sodium_memzero (copy, sizeof copy);
    }
    /* evaluated whatever the header gave: the time taken does not say which
       of the two was right */
    ok |= agg_web_token_matches (self, cookie);
    return ok;
}

int
agg_web_cookie (const char *token, char *buf, size_t cap)
{
    static const char name[] = AGG_WEB_COOKIE "=", attrs[] = "; Path=/; HttpOnly; SameSite=Strict";
    size_t len = strlen (token);
    if (sizeof name - 1 + len + sizeof attrs > cap)
        return -1;
    memcpy (buf, name, sizeof name - 1);
    memcpy (buf + sizeof name - 1, token, len);
    memcpy (buf + sizeof name - 1 + len, attrs, sizeof attrs); /* with its NUL */
    return 0;
}
