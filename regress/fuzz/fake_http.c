/*-------------------------------------------------------------------------
 *
 * fake_http.c
 *		  A scripted transport in place of http.c: every request is answered
 *		  with the next response of the fuzz input, so the real GCS,
 *		  BigQuery, OAuth2 and Google error decoders run on the fuzzer's
 *		  bytes.
 *
 * A script is responses separated by FUZZ_RESPONSE_SEPARATOR.  A response
 * that starts with "HTTP <status>" has header lines ("Name: value") up to
 * an empty line, then the body; any other text is a 200 body with no
 * headers.  "HTTP 0" is a transport failure.  Two headers steer streamed
 * reads: x-fuzz-chunk (bytes per read) and x-fuzz-cut (the transfer breaks
 * off after that many bytes).  When the script is exhausted every further
 * request fails at the transport level, so no loop of the fdw code runs
 * for ever on a finite input.
 *
 * Only the functions that touch the network (or sleep) are replaced:
 * run.sh compiles fdw/http.c unmodified with every name of http.h renamed
 * real_..., and the pure helpers -- header lookup, URL parsing and the
 * destination check, escaping, the excerpt of remote text, retry delays,
 * the transport error, the quiet wrapper of teardown calls -- are
 * forwarded here to the real ones.  The semantics of http.c are kept where the
 * callers depend on them: responses are palloc'd in the caller's context
 * (body NUL-terminated), header names are lower case, luxe_http_request
 * retries 408/429/5xx and transport failures of idempotent requests up to
 * max_retries and then raises the transport error, the quiet request never
 * throws.  There is no sleeping: luxe_http_sleep only checks for
 * interrupts.
 *
 * Every request is logged (method, URL, headers, body) so the harnesses
 * can check where credentials went.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  regress/fuzz/fake_http.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>

#include "lib/stringinfo.h"
#include "miscadmin.h"

#include "fuzz_common.h"
#include "http.h"

#define MAX_RESPONSES 64
#define MAX_REQUESTS 256

static FuzzResponse responses[MAX_RESPONSES];
static int	nresponses = 0;
static int	next_response = 0;

static FuzzRequest requests[MAX_REQUESTS];
static int	nrequests = 0;

static const char *endpoint = NULL;

struct LuxeHttpStream
{
	FuzzResponse *resp;			/* NULL: transport failure at open */
	size_t		pos;
	char	   *buffer;			/* the bytes of the last read */
	bool		broken;
	bool		closed;
};

static FuzzResponse *
parse_response(FuzzResponse *r, const char *p, size_t len)
{
	StringInfoData headers;

	memset(r, 0, sizeof(*r));
	r->status = 200;
	r->cut = -1;
	initStringInfo(&headers);
	if (len >= 5 && memcmp(p, "HTTP ", 5) == 0)
	{
		const char *end = p + len;
		const char *eol = memchr(p, '\n', len);
		const char *line;

		r->status = strtol(pnstrdup(p + 5, (eol ? eol : end) - (p + 5)), NULL, 10);
		line = eol ? eol + 1 : end;
		while (line < end)
		{
			const char *le = memchr(line, '\n', end - line);
			const char *colon;
			size_t		n = (le ? le : end) - line;

			if (n == 0 || (n == 1 && line[0] == '\r'))
			{
				line = le ? le + 1 : end;
				break;
			}
			colon = memchr(line, ':', n);
			if (colon)
			{
				const char *c;

				for (c = line; c < colon; c++)
					appendStringInfoChar(&headers, (char) tolower((unsigned char) *c));
				appendStringInfoChar(&headers, ':');
				for (c = colon + 1; c < line + n && *c != '\r'; c++)
					appendStringInfoChar(&headers, *c == '\0' ? ' ' : *c);
				appendStringInfoChar(&headers, '\n');
			}
			line = le ? le + 1 : end;
		}
		p = line;
		len = end - line;
	}
	r->headers = headers.data;
	r->body = p;
	r->body_len = len;
	{
		const char *v = luxe_http_header(r->headers, "x-fuzz-chunk");

		r->chunk = v ? (size_t) strtoul(v, NULL, 10) : 0;
		if (r->chunk == 0 || r->chunk > 1024 * 1024)
			r->chunk = 4096;
		v = luxe_http_header(r->headers, "x-fuzz-cut");
		if (v)
			r->cut = (ssize_t) strtol(v, NULL, 10);
	}
	return r;
}

/*
 * fuzz_http_script
 *		Load the responses of this input; data must outlive the input.
 */
void
fuzz_http_script(const char *data, size_t len)
{
	const char *p = data;
	const char *end = data + len;
	size_t		seplen = strlen(FUZZ_RESPONSE_SEPARATOR);
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	nresponses = 0;
	next_response = 0;
	nrequests = 0;
	endpoint = NULL;
	while (p <= end && nresponses < MAX_RESPONSES)
	{
		const char *sep = NULL;
		const char *s;

		for (s = p; s + seplen <= end; s++)
			if (memcmp(s, FUZZ_RESPONSE_SEPARATOR, seplen) == 0)
			{
				sep = s;
				break;
			}
		parse_response(&responses[nresponses++], p, (sep ? sep : end) - p);
		if (sep == NULL)
			break;
		p = sep + seplen;
	}
	MemoryContextSwitchTo(old);
}

void
fuzz_http_set_endpoint(const char *e)
{
	endpoint = e;
}

int
fuzz_http_requests(void)
{
	return nrequests;
}

const FuzzRequest *
fuzz_http_request(int i)
{
	return &requests[i];
}

int
fuzz_http_remaining(void)
{
	return nresponses - next_response;
}

static FuzzResponse *
take_response(void)
{
	if (next_response >= nresponses)
		return NULL;
	return &responses[next_response++];
}

/*
 * The host libcurl would connect to for url, lower case, palloc'd, and
 * whether the scheme is https; NULL if libcurl cannot parse it (then no
 * request would leave).
 */
/*
 * The host libcurl would connect to for url, lower case, palloc'd, whether
 * the scheme is https, and (origin) "scheme://host:port"; NULL if libcurl
 * cannot parse it (then no request would leave).
 */
static char *
url_origin(const char *url, bool *https, char **origin)
{
	CURLU	   *h = curl_url();
	char	   *scheme = NULL;
	char	   *part = NULL;
	char	   *port = NULL;
	char	   *host = NULL;

	*https = false;
	if (origin)
		*origin = NULL;
	if (h == NULL)
		abort();
	if (curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
		curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK)
	{
		*https = pg_strcasecmp(scheme, "https") == 0;
		if (curl_url_get(h, CURLUPART_HOST, &part, 0) == CURLUE_OK)
		{
			char	   *c;

			host = pstrdup(part);
			for (c = host; *c; c++)
				*c = (char) tolower((unsigned char) *c);
			if (origin && curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
				*origin = psprintf("%s://%s:%s", scheme, host, port);
		}
	}
	if (scheme)
		curl_free(scheme);
	if (part)
		curl_free(part);
	if (port)
		curl_free(port);
	curl_url_cleanup(h);
	return host;
}

static char *
url_host(const char *url, bool *https)
{
	return url_origin(url, https, NULL);
}

/* loopback as a connection would see it: IPv4 in every form inet_aton takes */
static bool
host_is_loopback(const char *host)
{
	struct in_addr a;

	if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
		return true;
	return inet_aton(host, &a) != 0 && (ntohl(a.s_addr) >> 24) == 127;
}

static void
log_request(const char *method, const char *url, List *headers,
			const char *body, size_t body_len)
{
	FuzzRequest *r;
	StringInfoData h;
	ListCell   *lc;
	MemoryContext old;

	if (nrequests >= MAX_REQUESTS)
		fuzz_fail("more than %d requests for one input", MAX_REQUESTS);
	r = &requests[nrequests++];
	/* the log lives as long as the input, teardown included */
	old = MemoryContextSwitchTo(TopMemoryContext);
	initStringInfo(&h);
	r->authorized = false;
	foreach(lc, headers)
	{
		const char *line = (const char *) lfirst(lc);

		/* http.c hands each element to curl as a C string */
		appendStringInfo(&h, "%s\n", line);
		if (pg_strncasecmp(line, "Authorization:", 14) == 0)
			r->authorized = true;
	}
	r->method = method;
	r->url = pstrdup(url);
	r->headers = h.data;
	r->body = body_len ? palloc(body_len) : NULL;
	if (body_len)
		memcpy(r->body, body, body_len);	/* every byte must be readable */
	r->body_len = body_len;
	r->response = NULL;
	MemoryContextSwitchTo(old);
	if (fuzz_verbose)
		fprintf(stderr, "fuzz: request %s %s (%zu body bytes)%s\n", method, url, body_len,
				r->authorized ? " with credentials" : "");
}

/*
 * fuzz_http_check_credentials
 *		Credentials (an Authorization header, a JWT assertion) go only where
 *		README's Authentication section says: over https, or plain http to
 *		a loopback host; and an Authorization header goes only to the
 *		client's endpoint.  secrets are strings that must never appear in a
 *		URL.
 */
void
fuzz_http_check_credentials(const char *const *secrets)
{
	int			i;

	for (i = 0; i < nrequests; i++)
	{
		FuzzRequest *r = &requests[i];
		bool		assertion = r->body_len > 0 &&
			strstr(pnstrdup(r->body, r->body_len), "assertion=") != NULL;
		bool		https = false;
		char	   *host = url_host(r->url, &https);
		int			k;

		for (k = 0; secrets && secrets[k]; k++)
			if (secrets[k][0] && strstr(r->url, secrets[k]))
				fuzz_fail("a secret appears in the URL of request %d: %s", i, r->url);
		if (!r->authorized && !assertion)
			continue;
		if (host == NULL)
			continue;			/* libcurl would not send it anywhere */
		if (!https && !host_is_loopback(host))
			fuzz_fail("credentials sent in clear text to \"%s\" (request %d: %s %s)",
					  host, i, r->method, r->url);
		if (r->authorized && endpoint)
		{
			char	   *at;
			char	   *ep;
			bool		ignored;

			(void) url_origin(r->url, &ignored, &at);
			(void) url_origin(endpoint, &ignored, &ep);
			if (at == NULL || ep == NULL || strcmp(at, ep) != 0)
				fuzz_fail("an Authorization header sent outside the endpoint \"%s\": %s %s",
						  endpoint, r->method, r->url);
		}
	}
}

static LuxeHttpResponse *
to_response(FuzzResponse *f)
{
	LuxeHttpResponse *resp = palloc0(sizeof(LuxeHttpResponse));

	resp->status = f->status;
	resp->body = palloc(f->body_len + 1);
	memcpy(resp->body, f->body, f->body_len);
	resp->body[f->body_len] = '\0';
	resp->body_len = f->body_len;
	resp->headers = pstrdup(f->headers);
	return resp;
}

void
luxe_http_init(void)
{
}

LuxeHttpResponse *
luxe_http_request_once(const LuxeHttpConfig *cfg, LuxeHttpStats *stats,
					   const char *method, const char *url, List *headers,
					   const char *body, size_t body_len, char **transport_error)
{
	FuzzResponse *f;

	CHECK_FOR_INTERRUPTS();
	log_request(method, url, headers, body, body_len);
	stats->requests++;
	f = take_response();
	requests[nrequests - 1].response = f;
	*transport_error = NULL;
	if (f == NULL || f->status == 0)
	{
		*transport_error = pstrdup(f ? "Connection reset by peer" : "Could not connect to server");
		return NULL;
	}
	return to_response(f);
}

LuxeHttpResponse *
luxe_http_request(const LuxeHttpConfig *cfg, LuxeHttpStats *stats,
				  const char *method, const char *url, List *headers,
				  const char *body, size_t body_len, bool idempotent)
{
	int			attempt;

	for (attempt = 0;; attempt++)
	{
		char	   *transport_error;
		LuxeHttpResponse *resp;

		resp = luxe_http_request_once(cfg, stats, method, url, headers,
									  body, body_len, &transport_error);
		if (resp && (!idempotent || !luxe_http_status_retryable(resp->status) ||
					 attempt >= cfg->max_retries))
			return resp;
		if (resp == NULL && (!idempotent || attempt >= cfg->max_retries ||
							 fuzz_http_remaining() == 0))
			luxe_http_report_transport_error(cfg, transport_error, attempt + 1);
		stats->retries++;
		luxe_http_sleep(luxe_http_retry_delay_ms(cfg, attempt,
												 resp ? luxe_http_header(resp->headers, "retry-after") : NULL));
	}
}

LuxeHttpResponse *
luxe_http_request_brief(const LuxeHttpConfig *cfg, LuxeHttpStats *stats,
						const char *method, const char *url, List *headers,
						const char *body, size_t body_len)
{
	char	   *transport_error;

	return luxe_http_request_once(cfg, stats, method, url, headers,
								  body ? body : "", body_len, &transport_error);
}

/* ---- streams ---- */

LuxeHttpStream *
luxe_http_stream_open(const LuxeHttpConfig *cfg, LuxeHttpStats *stats,
					  const char *url, List *headers)
{
	LuxeHttpStream *s = palloc0(sizeof(LuxeHttpStream));

	CHECK_FOR_INTERRUPTS();
	log_request("GET", url, headers, NULL, 0);
	stats->requests++;
	s->resp = take_response();
	requests[nrequests - 1].response = s->resp;
	if (s->resp && s->resp->status == 0)
		s->resp = NULL;
	return s;
}

static void
check_open(LuxeHttpStream *s, const char *what)
{
	if (s == NULL || s->closed)
		fuzz_fail("%s on a closed stream", what);
}

/* a started request takes its canned response at once, in request order */
LuxeHttpStream *
luxe_http_stream_start(const LuxeHttpConfig *cfg, LuxeHttpStats *stats,
					   const char *url, List *headers)
{
	return luxe_http_stream_open(cfg, stats, url, headers);
}

void
luxe_http_stream_wait(LuxeHttpStream *s)
{
	check_open(s, "luxe_http_stream_wait");
}

long
luxe_http_stream_status(LuxeHttpStream *s)
{
	check_open(s, "luxe_http_stream_status");
	return s->resp ? s->resp->status : 0;
}

const char *
luxe_http_stream_header(LuxeHttpStream *s, const char *name)
{
	check_open(s, "luxe_http_stream_header");
	return s->resp ? luxe_http_header(s->resp->headers, name) : NULL;
}

const char *
luxe_http_stream_error_body(LuxeHttpStream *s)
{
	check_open(s, "luxe_http_stream_error_body");
	if (s->resp == NULL || (s->resp->status >= 200 && s->resp->status < 300))
		return NULL;
	return pnstrdup(s->resp->body, s->resp->body_len);
}

const char *
luxe_http_stream_transport_error(LuxeHttpStream *s)
{
	check_open(s, "luxe_http_stream_transport_error");
	if (s->resp == NULL)
		return "Could not connect to server";
	if (s->broken)
		return "Connection reset by peer";
	return NULL;
}

ssize_t
luxe_http_stream_read(LuxeHttpStream *s, const char **data)
{
	size_t		n;
	size_t		limit;

	check_open(s, "luxe_http_stream_read");
	CHECK_FOR_INTERRUPTS();
	if (s->resp == NULL || s->broken)
		return -1;
	limit = s->resp->body_len;
	if (s->resp->cut >= 0 && (size_t) s->resp->cut < limit)
		limit = (size_t) s->resp->cut;
	if (s->pos >= limit)
	{
		if (limit < s->resp->body_len)
		{
			s->broken = true;
			return -1;
		}
		return 0;
	}
	n = Min(s->resp->chunk, limit - s->pos);
	/* a fresh buffer per read: a caller keeping the old one is caught */
	if (s->buffer)
		pfree(s->buffer);
	s->buffer = palloc(n);
	memcpy(s->buffer, s->resp->body + s->pos, n);
	s->pos += n;
	*data = s->buffer;
	return (ssize_t) n;
}

/* idempotent, as http.c's (transfer_release forgets what it freed) */
void
luxe_http_stream_close(LuxeHttpStream *s)
{
	if (s == NULL)
		fuzz_fail("luxe_http_stream_close(NULL)");
	if (s->buffer)
		pfree(s->buffer);
	s->buffer = NULL;
	s->closed = true;
}

void
luxe_http_sleep(int ms)
{
	CHECK_FOR_INTERRUPTS();
}

/* ---- http.c's pure helpers, the real ones ---- */

extern bool real_luxe_http_quietly(void (*fn) (void *arg), void *arg);
extern void real_luxe_http_report_transport_error(const LuxeHttpConfig *cfg,
												  const char *transport_error,
												  int attempts) pg_attribute_noreturn();
extern const char *real_luxe_http_header(const char *headers, const char *name);
extern bool real_luxe_http_status_retryable(long status);
extern int	real_luxe_http_retry_delay_ms(const LuxeHttpConfig *cfg, int attempt,
										  const char *retry_after);
extern char *real_luxe_http_escape(const char *s);
extern char *real_luxe_http_excerpt(const char *text, size_t len);
extern const char *real_luxe_http_parse_url(const char *url, LuxeUrl *u);
extern bool real_luxe_http_host_is_loopback(const char *host);
extern void real_luxe_http_check_destination(const char *url, const char *what,
											 Oid role, bool credentials);

bool
luxe_http_quietly(void (*fn) (void *arg), void *arg)
{
	return real_luxe_http_quietly(fn, arg);
}

void
luxe_http_report_transport_error(const LuxeHttpConfig *cfg,
								 const char *transport_error, int attempts)
{
	real_luxe_http_report_transport_error(cfg, transport_error, attempts);
}

const char *
luxe_http_header(const char *headers, const char *name)
{
	return real_luxe_http_header(headers, name);
}

bool
luxe_http_status_retryable(long status)
{
	return real_luxe_http_status_retryable(status);
}

int
luxe_http_retry_delay_ms(const LuxeHttpConfig *cfg, int attempt, const char *retry_after)
{
	return real_luxe_http_retry_delay_ms(cfg, attempt, retry_after);
}

char *
luxe_http_escape(const char *s)
{
	/* known bug 5: an object without a name reaches here as NULL */
	if (s == NULL && fuzz_tolerate_known)
		elog(ERROR, "fuzz: tolerated known bug 5");
	return real_luxe_http_escape(s);
}

char *
luxe_http_excerpt(const char *text, size_t len)
{
	return real_luxe_http_excerpt(text, len);
}

const char *
luxe_http_parse_url(const char *url, LuxeUrl *u)
{
	return real_luxe_http_parse_url(url, u);
}

bool
luxe_http_host_is_loopback(const char *host)
{
	return real_luxe_http_host_is_loopback(host);
}

void
luxe_http_check_destination(const char *url, const char *what, Oid role,
							bool credentials)
{
	real_luxe_http_check_destination(url, what, role, credentials);
}
