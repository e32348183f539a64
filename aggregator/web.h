/*  web.h — the dashboard of pingyi-agg (docs/dashboard.md): the page and its
    assets, embedded in the binary at build time, and the access token that
    guards the page, the assets and the API when one is set.

    The assets are the files of web/ (index.html and every file of
    web/assets), turned into C arrays by web/embed.cmake at build time:
    nothing is read from disk or fetched from another host when the page
    is served.  A path is
    looked up only by exact match in that table, so no request can name
    anything else (`/assets/../x`, `/assets/%2e%2e/x` and `//x` are simply
    not in it).

    The token (--http-token, --http-token-file) is kept only as its
    BLAKE2b hash; a presented token is hashed the same way and the two
    hashes compared with sodium_memcmp, so the comparison takes the same
    time whatever the token presented and whatever its length.  */
#ifndef AGG_WEB_H
#define AGG_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  One embedded file: the path it is served at, its Content-Type, its
    bytes.  */
typedef struct {
    const char *path;
    const char *content_type;
    const unsigned char *data;
    size_t len;
} agg_web_asset_t;

/*  The table written by web/embed.cmake (a generated .c file).  */
extern const agg_web_asset_t agg_web_assets[];
extern const size_t agg_web_asset_count;

/*  The asset served at url ("/" is the page, "/assets/NAME" the rest), or
    NULL.  Only names of [A-Za-z0-9._-] that do not start with '.' are
    looked up at all.  */
const agg_web_asset_t *agg_web_find (const char *url);

/*  The Content-Type of a file name by its extension (html, css, js, svg,
    json, txt; anything else application/octet-stream).  Used by the build
    script's table and the tests.  */
const char *agg_web_content_type (const char *name);

/*  The headers every page, asset, refusal and redirect of the dashboard
    carries: a strict Content-Security-Policy (nothing inline, nothing from
    another host), nosniff, no referrer, no framing.  */
#define AGG_WEB_CSP                                                                                          \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "    \
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
typedef struct {
    const char *name;
    const char *value;
} agg_web_header_t;
extern const agg_web_header_t agg_web_page_headers[];
extern const size_t agg_web_page_header_count;

/*  The token.  Characters: A-Z a-z 0-9 . _ ~ - (safe unescaped in a URL
    and a cookie), AGG_WEB_TOKEN_MIN..AGG_WEB_TOKEN_MAX of them.  */
#define AGG_WEB_TOKEN_MIN 16
#define AGG_WEB_TOKEN_MAX 256
#define AGG_WEB_TOKEN_FILE_MAX 4096 /* a token file larger than this is refused unread */
#define AGG_WEB_COOKIE "pingyi_token"

typedef struct {
    bool set;
    uint8_t hash[32];
} agg_web_token_t;

/*  Take token as the one to require.  0, or -1 with err (empty, too short,
    too long, a character outside the set above).  */
int agg_web_token_set (agg_web_token_t *self, const char *token, char *err);

/*  Read the token from path: a regular file of this process's user that
    group and others cannot access at all (as the secret keys,
    deploy/keys.h), holding the token and at most one trailing newline
    ("\n" or "\r\n").  0, or -1 with err saying why (and the chmod that
    fixes a mode).  The bytes read are wiped.  */
int agg_web_token_read_file (agg_web_token_t *self, const char *path, char *err);

/*  Whether presented (NUL-terminated, may be NULL) is the token.  Constant
    time in the token and in presented.  False when no token is set.  */
bool agg_web_token_matches (const agg_web_token_t *self, const char *presented);

/*  Whether a request may be answered: no token set; or the Authorization
    header is "Bearer TOKEN" (scheme case-insensitive); or the cookie
    AGG_WEB_COOKIE holds the token.  Either may be NULL.  */
bool agg_web_authorized (const agg_web_token_t *self, const char *authorization, const char *cookie);

/*  The Set-Cookie value given after /?token=TOKEN: the token for every
    path, out of reach of scripts and of other sites' requests.  Written
    into buf (cap bytes); 0, or -1 when it does not fit.  */
int agg_web_cookie (const char *token, char *buf, size_t cap);

#endif
