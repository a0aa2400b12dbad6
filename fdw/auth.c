/*-------------------------------------------------------------------------
 *
 * auth.c
 *		  Credentials for Google APIs.
 *
 * Design assumptions and invariants:
 * - The result of luxe_auth_get_header is a complete "Authorization:"
 *   header line.  It is a secret: callers hand it to http.c and nowhere
 *   else (not to fdw_private, EXPLAIN, logs or messages).  Neither the key,
 *   the signed assertion nor a token ever appears in a message here.
 * - Service-account keys are exchanged like Google's clients do: an RS256
 *   JWT (iss = client_email, aud = the key's token_uri, scope, iat, exp =
 *   iat + 1 h) signed with OpenSSL and posted to the key's token_uri.
 * - Tokens are cached per backend, keyed by a SHA-256 of the credential and
 *   the scopes (never by the secret itself), and renewed when fewer than
 *   LUXE_TOKEN_EARLY_REFRESH seconds remain; a 401 drops the cached token
 *   (luxe_auth_forget) so the caller's one retry gets a fresh one.
 * - A credential is never sent in clear text to a host that is not on the
 *   loopback interface: over plain http it would be readable on the wire.
 *   Hosts are judged as libcurl parses the URL (luxe_http_check_destination),
 *   and a key's token_uri is judged for the role whose key it is.
 * - Remote text (a token endpoint's error) reaches messages only as a
 *   bounded, sanitised excerpt.
 * - This file uses jansson and must not include utils/builtins.h.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/auth.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "common/base64.h"
#include "lib/stringinfo.h"
#include "storage/fd.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "auth.h"
#include "google.h"
#include "http.h"

#define LUXE_TOKEN_EARLY_REFRESH	300 /* seconds */
#define LUXE_DEFAULT_TOKEN_URI		"https://oauth2.googleapis.com/token"
#define LUXE_MAX_KEY_FILE			(1024 * 1024)

typedef struct TokenCacheEntry
{
	char		key[2 * SHA256_DIGEST_LENGTH + 1];
	char	   *header;			/* in TopMemoryContext */
	TimestampTz expires;
	int			lifetime;		/* seconds, as granted */
	struct TokenCacheEntry *next;
} TokenCacheEntry;

static TokenCacheEntry *token_cache = NULL;

/* GUC luxe_fdw.metadata_host: host[:port] of the GCE metadata server */
char	   *luxe_auth_metadata_host = NULL;

/* hex SHA-256 of the credential material: the cache key */
static void
cache_key(const LuxeAuthOptions *auth, char *out)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const char *mode = auth->mode == LUXE_AUTH_METADATA ? "metadata" : "service_account";
	int			i;

	if (ctx == NULL ||
		EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
		EVP_DigestUpdate(ctx, mode, strlen(mode) + 1) != 1 ||
		(auth->key_json && EVP_DigestUpdate(ctx, auth->key_json, strlen(auth->key_json) + 1) != 1) ||
		(auth->key_file && EVP_DigestUpdate(ctx, auth->key_file, strlen(auth->key_file) + 1) != 1) ||
		EVP_DigestUpdate(ctx, auth->scopes, strlen(auth->scopes)) != 1 ||
		EVP_DigestFinal_ex(ctx, md, NULL) != 1)
	{
		EVP_MD_CTX_free(ctx);
		elog(ERROR, "luxe_fdw: could not hash a credential");
	}
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < SHA256_DIGEST_LENGTH; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static TokenCacheEntry *
cache_lookup(const char *key)
{
	TokenCacheEntry *e;

	for (e = token_cache; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static void
cache_store(const char *key, const char *token, int expires_in)
{
	TokenCacheEntry *e = cache_lookup(key);

	if (e == NULL)
	{
		e = MemoryContextAllocZero(TopMemoryContext, sizeof(TokenCacheEntry));
		strlcpy(e->key, key, sizeof(e->key));
		e->next = token_cache;
		token_cache = e;
	}
	if (e->header)
	{
		explicit_bzero(e->header, strlen(e->header));
		pfree(e->header);
	}
	e->header = MemoryContextStrdup(TopMemoryContext,
									psprintf("Authorization: Bearer %s", token));
	e->expires = GetCurrentTimestamp() + (TimestampTz) expires_in * USECS_PER_SEC;
	e->lifetime = expires_in;
}

/*
 * luxe_auth_forget
 *		Drop the cached token of a credential, after the API refused it.
 */
void
luxe_auth_forget(const LuxeAuthOptions *auth)
{
	char		key[2 * SHA256_DIGEST_LENGTH + 1];
	TokenCacheEntry *e;

	if (auth->mode != LUXE_AUTH_SERVICE_ACCOUNT && auth->mode != LUXE_AUTH_METADATA)
		return;
	cache_key(auth, key);
	e = cache_lookup(key);
	if (e)
		e->expires = 0;
}

/* base64url without padding (RFC 7515), palloc'd */
static char *
b64url(const unsigned char *data, size_t len)
{
	char	   *out = palloc(pg_b64_enc_len((int) len) + 1);
	int			n = pg_b64_encode((const char *) data, (int) len, out, pg_b64_enc_len((int) len));
	int			i;

	if (n < 0)
		elog(ERROR, "luxe_fdw: could not encode base64");
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (i = 0; i < n; i++)
	{
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return out;
}

static char *
read_key_file(const char *path)
{
	FILE	   *f = AllocateFile(path, "r");
	StringInfoData buf;
	char		chunk[8192];
	size_t		n;

	if (f == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open service account key file \"%s\": %m", path)));
	initStringInfo(&buf);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
	{
		if (buf.len + n > LUXE_MAX_KEY_FILE)
		{
			FreeFile(f);
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("service account key file \"%s\" is too large", path)));
		}
		appendBinaryStringInfo(&buf, chunk, n);
	}
	FreeFile(f);
	return buf.data;
}

/* Sign "header.claims" with the PEM private key; returns base64url. */
static char *
rs256_sign(const char *pem, const char *input)
{
	BIO		   *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY   *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	EVP_MD_CTX *ctx = NULL;
	unsigned char *sig = NULL;
	size_t		siglen = 0;
	char	   *result = NULL;
	bool		ok = false;

	if (pkey && (ctx = EVP_MD_CTX_new()) != NULL &&
		EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
		EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *) input, strlen(input)) == 1 &&
		(sig = malloc(siglen)) != NULL &&
		EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *) input, strlen(input)) == 1)
		ok = true;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	if (!ok)
	{
		free(sig);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("could not sign with the service account key"),
				 errdetail("The \"private_key\" of the key is not a usable RSA key in PEM form.")));
	}
	result = b64url(sig, siglen);
	free(sig);
	return result;
}

static const char *
json_field(json_t *obj, const char *key)
{
	json_t	   *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/*
 * Parse a token endpoint or metadata response; store the token in the
 * cache under key.  what names the credential for messages.  Throws on a
 * refusal or malformed answer.
 */
static void
accept_token_response(LuxeHttpResponse *resp, const char *key, const char *what)
{
	json_error_t jerr;
	json_t	   *root = json_loadb(resp->body, resp->body_len, 0, &jerr);
	const char *token;
	json_t	   *exp;
	int			expires_in = 3600;

	if (resp->status != 200)
	{
		const char *err = root ? json_field(root, "error") : NULL;
		const char *desc = root ? json_field(root, "error_description") : NULL;
		char	   *detail;

		/* remote text: bounded and sanitised before it reaches a message */
		if (err)
			err = luxe_http_excerpt(err, strlen(err));
		if (desc)
			desc = luxe_http_excerpt(desc, strlen(desc));
		detail = psprintf("HTTP %ld%s%s%s%s.", resp->status,
						  err ? ": " : "", err ? err : "",
						  desc ? ": " : "", desc ? desc : "");

		if (root)
			json_decref(root);
		ereport(ERROR,
				(errcode(resp->status >= 500 || resp->status == 429 ?
						 luxe_google_sqlstate(resp->status, NULL) :
						 ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("could not obtain an access token for %s", what),
				 errdetail_internal("%s", detail)));
	}
	if (root == NULL || (token = json_field(root, "access_token")) == NULL)
	{
		if (root)
			json_decref(root);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_REPLY_HANDLE),
				 errmsg("could not obtain an access token for %s", what),
				 errdetail("The response has no \"access_token\".")));
	}
	exp = json_object_get(root, "expires_in");
	/* Google's Python client tolerates expires_in as a string too */
	if (json_is_integer(exp))
		expires_in = (int) json_integer_value(exp);
	else if (json_is_string(exp))
		expires_in = atoi(json_string_value(exp));
	cache_store(key, token, expires_in);
	json_decref(root);
}

static void
fetch_service_account_token(const LuxeAuthOptions *auth, const char *key,
							const LuxeHttpConfig *http, LuxeHttpStats *stats)
{
	char	   *text = auth->key_json ? pstrdup(auth->key_json) : read_key_file(auth->key_file);
	json_error_t jerr;
	json_t	   *root = json_loads(text, 0, &jerr);
	const char *type;
	const char *email;
	const char *pem;
	const char *token_uri;
	const char *kid;
	json_t	   *hdr;
	json_t	   *claims;
	char	   *hdr_s;
	char	   *claims_s;
	char	   *signing_input;
	char	   *volatile jwt = NULL;
	char	   *body;
	char	   *what;
	int64		now = (int64) time(NULL);
	LuxeHttpResponse *resp;

	explicit_bzero(text, strlen(text));
	if (root == NULL || !json_is_object(root))
	{
		json_decref(root);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid service account key"),
				 errdetail("The key is not a JSON object (line %d).", jerr.line)));
	}
	type = json_field(root, "type");
	email = json_field(root, "client_email");
	pem = json_field(root, "private_key");
	token_uri = json_field(root, "token_uri");
	kid = json_field(root, "private_key_id");
	if (type == NULL || strcmp(type, "service_account") != 0 || email == NULL || pem == NULL)
	{
		json_decref(root);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid service account key"),
				 errdetail("A key needs \"type\": \"service_account\", \"client_email\" and \"private_key\".")));
	}
	if (token_uri == NULL)
		token_uri = LUXE_DEFAULT_TOKEN_URI;
	what = psprintf("service account \"%s\"", email);
	token_uri = pstrdup(token_uri);
	/* the key's author chose token_uri: a signed JWT goes there */
	PG_TRY();
	{
		luxe_http_check_destination(token_uri, "the \"token_uri\" of the service account key",
									auth->role, true);
	}
	PG_CATCH();
	{
		json_decref(root);		/* it holds the private key */
		PG_RE_THROW();
	}
	PG_END_TRY();

	hdr = json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
	if (kid)
		json_object_set_new(hdr, "kid", json_string(kid));
	claims = json_pack("{s:s, s:s, s:s, s:I, s:I}",
					   "iss", email, "scope", auth->scopes, "aud", token_uri,
					   "iat", (json_int_t) now, "exp", (json_int_t) (now + 3600));
	hdr_s = json_dumps(hdr, JSON_COMPACT);
	claims_s = json_dumps(claims, JSON_COMPACT);
	signing_input = psprintf("%s.%s",
							 b64url((const unsigned char *) hdr_s, strlen(hdr_s)),
							 b64url((const unsigned char *) claims_s, strlen(claims_s)));
	free(hdr_s);
	free(claims_s);
	json_decref(hdr);
	json_decref(claims);
	PG_TRY();
	{
		jwt = psprintf("%s.%s", signing_input, rs256_sign(pem, signing_input));
	}
	PG_FINALLY();
	{
		json_decref(root);
	}
	PG_END_TRY();

	body = psprintf("grant_type=%s&assertion=%s",
					"urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer", jwt);
	elog(DEBUG1, "luxe_fdw: requesting an access token for %s", what);
	resp = luxe_http_request(http, stats, "POST", token_uri,
							 list_make1("Content-Type: application/x-www-form-urlencoded"),
							 body, strlen(body), true);
	explicit_bzero(body, strlen(body));
	accept_token_response(resp, key, what);
}

static void
fetch_metadata_token(const LuxeAuthOptions *auth, const char *key,
					 const LuxeHttpConfig *http, LuxeHttpStats *stats)
{
	const char *host = luxe_auth_metadata_host;
	StringInfoData url;
	LuxeHttpResponse *resp;
	const char *flavor;
	const char *s;

	if (host == NULL || host[0] == '\0')
		host = getenv("GCE_METADATA_HOST");
	if (host == NULL || host[0] == '\0')
		host = getenv("GCE_METADATA_ROOT");
	if (host == NULL || host[0] == '\0')
		host = "metadata.google.internal";
	initStringInfo(&url);
	appendStringInfo(&url, "http://%s/computeMetadata/v1/instance/service-accounts/default/token?scopes=",
					 host);
	/* scopes are comma-separated on the metadata server */
	for (s = auth->scopes; *s; s++)
		appendStringInfoChar(&url, *s == ' ' ? ',' : *s);
	resp = luxe_http_request(http, stats, "GET", url.data,
							 list_make1("Metadata-Flavor: Google"), NULL, 0, true);
	flavor = luxe_http_header(resp->headers, "metadata-flavor");
	if (resp->status == 200 && (flavor == NULL || strcmp(flavor, "Google") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_REPLY_HANDLE),
				 errmsg("invalid response from the metadata server at \"%s\"", host),
				 errdetail("The response lacks the header \"Metadata-Flavor: Google\".")));
	accept_token_response(resp, key, psprintf("the metadata server at \"%s\"", host));
}

/*
 * luxe_auth_get_header
 *		The Authorization header for the user mapping's credentials, to be
 *		sent to endpoint, palloc'd in the current context, or NULL for
 *		anonymous access.  Fetches or renews a token when needed.  Can
 *		throw; not for use inside a curl callback.
 */
char *
luxe_auth_get_header(const LuxeAuthOptions *auth, const char *endpoint,
					 const LuxeHttpConfig *http, LuxeHttpStats *stats)
{
	char		key[2 * SHA256_DIGEST_LENGTH + 1];
	TokenCacheEntry *e;

	if (auth->mode == LUXE_AUTH_NONE)
		return NULL;
	luxe_http_check_destination(endpoint, "the endpoint", InvalidOid, true);
	if (auth->mode == LUXE_AUTH_TOKEN)
		return psprintf("Authorization: Bearer %s", auth->token);

	cache_key(auth, key);
	e = cache_lookup(key);
	/* renew 5 minutes early, or after 3/4 of an unusually short lifetime */
	if (e == NULL || e->header == NULL ||
		GetCurrentTimestamp() + (TimestampTz) Min(LUXE_TOKEN_EARLY_REFRESH, e->lifetime / 4) * USECS_PER_SEC >= e->expires)
	{
		if (auth->mode == LUXE_AUTH_SERVICE_ACCOUNT)
			fetch_service_account_token(auth, key, http, stats);
		else
			fetch_metadata_token(auth, key, http, stats);
		e = cache_lookup(key);
	}
	return pstrdup(e->header);
}

/*
 * luxe_auth_cached_header
 *		For teardown: the Authorization header without any request, the
 *		static token or a cached, unexpired one; NULL for anonymous access.
 *		*usable is false when the credential needs a token that is not
 *		cached (the caller then sends nothing).  Palloc'd.
 */
char *
luxe_auth_cached_header(const LuxeAuthOptions *auth, bool *usable)
{
	char		key[2 * SHA256_DIGEST_LENGTH + 1];
	TokenCacheEntry *e;

	*usable = true;
	if (auth->mode == LUXE_AUTH_NONE)
		return NULL;
	if (auth->mode == LUXE_AUTH_TOKEN)
		return psprintf("Authorization: Bearer %s", auth->token);
	cache_key(auth, key);
	e = cache_lookup(key);
	if (e == NULL || e->header == NULL || GetCurrentTimestamp() >= e->expires)
	{
		*usable = false;
		return NULL;
	}
	return pstrdup(e->header);
}
