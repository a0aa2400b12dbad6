/*-------------------------------------------------------------------------
 *
 * fuzz_auth.c
 *		  libFuzzer target: credentials (auth.c): service-account key JSON,
 *		  the RS256 JWT it signs, OAuth2 token responses, the metadata
 *		  server's answers, the token cache and its renewal.
 *
 * Input: a control line, then a response script (see fake_http.c).
 *	  sa        auth 'service_account': the first part of the script is the
 *				key JSON (the user mapping's key_json; @FUZZ_PEM@ in it is
 *				replaced by an RSA key generated at start-up, so no key is
 *				ever stored), the rest answers the token endpoint
 *	  metadata  auth 'metadata': the script answers the metadata server
 *	  scopes=a,b  the user mapping's scopes (commas for spaces)
 *
 * The harness asks for the Authorization header, asks again (a cached
 * token must be reused), drops the token as after a 401 (luxe_auth_forget)
 * and asks once more.
 *
 * Invariants: an ERROR has an errcode (not XX000) and shows no secret
 * (the private key, the signed assertion, a token received); a header is
 * "Authorization: Bearer " and the access_token of the answer that was
 * accepted, which was a 200 with a JSON access_token string (and, from the
 * metadata server, "Metadata-Flavor: Google"); a token whose lifetime is
 * long is not fetched again on the second call, and is after
 * luxe_auth_forget; the assertion is a JWT whose header says RS256 and
 * whose claims name the key's client_email (iss), token_uri (aud), the
 * scopes, and a one-hour lifetime; credentials never travel in clear text
 * to a host that is not loopback.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  regress/fuzz/fuzz_auth.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "lib/stringinfo.h"

#include "auth.h"
#include "fuzz_common.h"

static char *pem_json;			/* the PEM, escaped for a JSON string (malloc) */
static char *pem_secret;		/* a line of the key's base64 body (malloc) */

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	EVP_PKEY   *pkey = EVP_RSA_gen(1024);
	BIO		   *bio = BIO_new(BIO_s_mem());
	char	   *pem;
	long		n;
	long		i;
	size_t		k = 0;
	char	   *line;

	if (pkey == NULL || bio == NULL || !PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL))
		abort();
	n = BIO_get_mem_data(bio, &pem);
	pem_json = malloc(2 * n + 1);
	for (i = 0; i < n; i++)
	{
		if (pem[i] == '\n')
		{
			pem_json[k++] = '\\';
			pem_json[k++] = 'n';
		}
		else
			pem_json[k++] = pem[i];
	}
	pem_json[k] = '\0';
	/* the second line of the PEM: base64 of the key, a secret */
	line = memchr(pem, '\n', n);
	pem_secret = strndup(line + 1, 40);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return 0;
}

/* base64url (no padding) to bytes; NULL if malformed */
static char *
b64url_decode(const char *s, size_t len)
{
	StringInfoData out;
	uint32		acc = 0;
	int			bits = 0;
	size_t		i;

	initStringInfo(&out);
	for (i = 0; i < len; i++)
	{
		int			v;
		char		c = s[i];

		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '-')
			v = 62;
		else if (c == '_')
			v = 63;
		else
			return NULL;
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			appendStringInfoChar(&out, (char) ((acc >> bits) & 0xff));
		}
	}
	return out.data;
}

static const char *
json_text(json_t *o, const char *key)
{
	json_t	   *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* check the JWT of a token request against the key; returns the assertion */
static char *
check_assertion(const FuzzRequest *r, json_t *key, const char *scopes)
{
	char	   *body = pnstrdup(r->body, r->body_len);
	char	   *a = strstr(body, "assertion=");
	char	   *dot1;
	char	   *dot2;
	char	   *hdr;
	char	   *claims;
	json_t	   *h;
	json_t	   *c;
	json_error_t jerr;
	const char *token_uri = json_text(key, "token_uri");

	static const char grant[] = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&";

	if (strncmp(body, grant, strlen(grant)) != 0 || a == NULL)
		fuzz_fail("token request body: %s", body);
	a += strlen("assertion=");
	dot1 = strchr(a, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (dot2 == NULL || strchr(dot2 + 1, '.') || strchr(dot2 + 1, '&'))
		fuzz_fail("the assertion is not a JWT: %s", a);
	hdr = b64url_decode(a, dot1 - a);
	claims = b64url_decode(dot1 + 1, dot2 - dot1 - 1);
	if (hdr == NULL || claims == NULL || b64url_decode(dot2 + 1, strlen(dot2 + 1)) == NULL)
		fuzz_fail("the JWT is not base64url: %s", a);
	h = json_loads(hdr, 0, &jerr);
	c = json_loads(claims, 0, &jerr);
	if (h == NULL || c == NULL)
		fuzz_fail("the JWT header or claims are not JSON: %s / %s", hdr, claims);
	if (strcmp(json_text(h, "alg") ? json_text(h, "alg") : "", "RS256") != 0 ||
		strcmp(json_text(c, "iss") ? json_text(c, "iss") : "", json_text(key, "client_email")) != 0 ||
		strcmp(json_text(c, "aud") ? json_text(c, "aud") : "",
			   token_uri ? token_uri : "https://oauth2.googleapis.com/token") != 0 ||
		strcmp(json_text(c, "scope") ? json_text(c, "scope") : "", scopes) != 0 ||
		json_integer_value(json_object_get(c, "exp")) - json_integer_value(json_object_get(c, "iat")) != 3600)
		fuzz_fail("the JWT does not match the key: %s / %s", hdr, claims);
	if (strcmp(r->url, token_uri ? token_uri : "https://oauth2.googleapis.com/token") != 0)
		fuzz_fail("the assertion went to %s, not the key's token_uri", r->url);
	json_decref(h);
	json_decref(c);
	return pstrdup(dot2 + 1);
}

/*
 * The token the client must have accepted from the response to request i,
 * or NULL if it had to refuse it.
 */
static const char *
expected_token(int i, bool metadata, int *expires_in)
{
	const FuzzRequest *r = fuzz_http_request(i);
	const FuzzResponse *f = r->response;
	json_error_t jerr;
	json_t	   *root;
	json_t	   *exp;
	const char *token;
	const char *result = NULL;

	*expires_in = 3600;
	if (f == NULL || f->status != 200)
		return NULL;
	if (metadata)
	{
		const char *flavor = luxe_http_header(f->headers, "metadata-flavor");

		if (flavor == NULL || strcmp(flavor, "Google") != 0)
			return NULL;
	}
	root = json_loadb(f->body, f->body_len, 0, &jerr);
	if (root == NULL)
		return NULL;
	token = json_text(root, "access_token");
	exp = json_object_get(root, "expires_in");
	if (json_is_integer(exp))
		*expires_in = (json_integer_value(exp) >= INT_MIN && json_integer_value(exp) <= INT_MAX) ?
			(int) json_integer_value(exp) : -1;
	else if (json_is_string(exp))
		*expires_in = -1;		/* atoi's reading: not judged here */
	if (token)
		result = pstrdup(token);
	json_decref(root);
	return result;
}

/* every request: a JWT matching the key, or the metadata server's flavor */
static void
check_requests(bool metadata, json_t *key, const char *scopes,
			   const char **secrets, int *nsecrets)
{
	int			i;

	for (i = 0; i < fuzz_http_requests(); i++)
	{
		const FuzzRequest *r = fuzz_http_request(i);

		if (!metadata && key)
		{
			char	   *signature = check_assertion(r, key, scopes);

			if (*nsecrets < 7)
				secrets[(*nsecrets)++] = signature;
		}
		if (metadata && (strncmp(r->url, "http://127.0.0.1:8099/computeMetadata/v1/", 41) != 0 ||
						 strstr(r->headers, "Metadata-Flavor: Google\n") == NULL))
			fuzz_fail("metadata request %s without its flavor header", r->url);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *control;
	const char *script;
	MemoryContext cxt;
	bool		metadata;
	LuxeAuthOptions *volatile auth = NULL;
	LuxeHttpConfig http;
	LuxeHttpStats stats = {0};
	const char *endpoint = "https://bigquery.googleapis.com";
	const char *volatile secrets[8] = {NULL};
	int			nsecrets = 0;
	json_t	   *volatile key = NULL;
	char	   *scopes;
	const char *v;

	cxt = fuzz_input_begin();
	script = fuzz_split_control((const char *) data, size, &control);
	metadata = !fuzz_has_word(control, "sa");
	v = fuzz_word_value(control, "scopes");
	scopes = pstrdup(v ? v : "https://www.googleapis.com/auth/cloud-platform");
	for (char *c = scopes; *c; c++)
		if (*c == ',')
			*c = ' ';

	auth = palloc0(sizeof(LuxeAuthOptions));
	auth->mode = metadata ? LUXE_AUTH_METADATA : LUXE_AUTH_SERVICE_ACCOUNT;
	auth->scopes = scopes;
	if (!metadata)
	{
		/* the key is the first part of the script */
		const char *end = (const char *) data + size;
		const char *sep = NULL;
		const char *s;
		StringInfoData k;
		json_error_t jerr;

		for (s = script; s + 5 <= end; s++)
			if (memcmp(s, FUZZ_RESPONSE_SEPARATOR, 5) == 0)
			{
				sep = s;
				break;
			}
		initStringInfo(&k);
		appendBinaryStringInfo(&k, script, (sep ? sep : end) - script);
		/* the key option is a C string: it ends at the first NUL */
		while ((s = strstr(k.data, "@FUZZ_PEM@")) != NULL)
		{
			StringInfoData r;

			initStringInfo(&r);
			appendBinaryStringInfo(&r, k.data, s - k.data);
			appendStringInfoString(&r, pem_json);
			appendStringInfoString(&r, s + strlen("@FUZZ_PEM@"));
			k = r;
		}
		auth->key_json = k.data;
		key = json_loads(k.data, 0, &jerr);
		/* the private key is a secret where the key has it, and only there */
		if (key && json_text(key, "private_key") &&
			strstr(json_text(key, "private_key"), pem_secret) &&
			strstr(strstr(k.data, pem_secret) + 1, pem_secret) == NULL)
			secrets[nsecrets++] = pem_secret;
		script = sep ? sep + 5 : end;
	}
	fuzz_http_script(script, size - (script - (const char *) data));
	luxe_auth_metadata_host = "127.0.0.1:8099";
	memset(&http, 0, sizeof(http));
	http.max_retries = 2;
	http.retry_initial_delay_ms = 1000;
	http.retry_max_delay_ms = 32000;
	http.service_name = "BigQuery";

	PG_TRY();
	{
		char	   *h1;
		char	   *h2;
		char	   *h3;
		int			before;
		int			expires_in;
		const char *token;

		h1 = luxe_auth_get_header(auth, endpoint, &http, &stats);
		if (fuzz_http_requests() == 0)
			fuzz_fail("no token request was made");
		/* the last request is the one whose answer was accepted */
		token = expected_token(fuzz_http_requests() - 1, metadata, &expires_in);
		if (token == NULL || h1 == NULL ||
			strcmp(h1, psprintf("Authorization: Bearer %s", token)) != 0)
			fuzz_fail("header \"%s\" from an answer whose token is %s%s%s", h1 ? h1 : "(null)",
					  token ? "\"" : "", token ? token : "not acceptable", token ? "\"" : "");
		/* a token is a secret unless the input also holds it elsewhere */
		if (strlen(token) >= 8 && nsecrets < 7)
		{
			const char *first = memmem(data, size, token, strlen(token));
			size_t		rest = first ? size - (first + 1 - (const char *) data) : 0;

			if (first && !fuzz_memcasemem(first + 1, rest, token) &&
				!fuzz_memcasemem(data, first - (const char *) data, token))
				secrets[nsecrets++] = token;
		}
		check_requests(metadata, key, scopes, (const char **) secrets, &nsecrets);

		before = fuzz_http_requests();
		h2 = luxe_auth_get_header(auth, endpoint, &http, &stats);
		if (expires_in >= 1200 && fuzz_http_requests() != before)
			fuzz_fail("a token valid for %d s was fetched again", expires_in);
		if (fuzz_http_requests() == before && strcmp(h1, h2) != 0)
			fuzz_fail("the cached header changed without a request");

		luxe_auth_forget(auth);
		before = fuzz_http_requests();
		h3 = luxe_auth_get_header(auth, endpoint, &http, &stats);
		if (fuzz_http_requests() == before)
			fuzz_fail("luxe_auth_forget did not make the next call fetch a token");
		(void) h3;
	}
	PG_CATCH();
	{
		const FuzzErrorData *e = fuzz_error_current();

		MemoryContextSwitchTo(cxt);
		check_requests(metadata, key, scopes, (const char **) secrets, &nsecrets);
		fuzz_check_error(e, (const char *const *) secrets);
		FlushErrorState();
	}
	PG_END_TRY();
	fuzz_http_check_credentials((const char *const *) secrets);
	if (key)
		json_decref(key);
	fuzz_input_end();
	return 0;
}
