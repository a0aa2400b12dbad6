/*-------------------------------------------------------------------------
 *
 * http.c
 *		  libcurl transport of luxe_fdw.
 *
 * Design assumptions and invariants:
 * - Every transfer is driven through a curl multi handle from PostgreSQL
 *   code, in a loop that polls the socket for at most 100 ms at a time and
 *   then runs CHECK_FOR_INTERRUPTS, so a query cancel or statement_timeout
 *   interrupts even a stalled transfer promptly.
 * - libcurl callbacks never ereport or palloc: they append to malloc'd
 *   buffers, record what went wrong and return an abort code; the error is
 *   reported once control is back in PostgreSQL code.
 * - Handles that must not leak on error (streams) are owned by a memory
 *   context reset callback, so an ERROR anywhere frees them.
 * - Connections are reused across requests through a curl share handle
 *   (connection cache and DNS), which matters for paged listings.
 * - Retries follow Google's guidance: 408, 429, 5xx and transport failures
 *   of idempotent requests are retried with truncated exponential backoff
 *   and up to one second of jitter; Retry-After is honoured.
 * - Nothing here knows GCS or BigQuery URLs, and nothing here logs a
 *   request header (they carry credentials).
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/http.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <curl/curl.h>

#include "common/pg_prng.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "http.h"

#define LUXE_HTTP_MAX_BODY			((size_t) 256 * 1024 * 1024)
#define LUXE_HTTP_MAX_ERROR_BODY	((size_t) 64 * 1024)
#define LUXE_HTTP_MAX_HEADERS		((size_t) 64 * 1024)
#define LUXE_HTTP_POLL_MS			100
#define LUXE_HTTP_STALL_SECONDS		60
#define LUXE_HTTP_MAX_RETRY_AFTER	300 /* seconds of a Retry-After honoured */
#define LUXE_HTTP_EXCERPT			200 /* longest remote text in a message */

/* body bytes received by this backend, for luxe.bytes_received() */
int64		luxe_http_bytes_received = 0;

/* GUC luxe_fdw.allowed_endpoints: see luxe_http_check_destination */
char	   *luxe_http_allowed_endpoints = NULL;

/* A malloc'd growable byte buffer, safe to use from curl callbacks. */
typedef struct LuxeBuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	size_t		limit;
	bool		overflow;
	size_t		pause_at;		/* streams: pause the transfer at this fill */
	bool		paused;
} LuxeBuf;

/*
 * The curl resources of one transfer, freed on every path by
 * transfer_release (which is idempotent).
 */
typedef struct Transfer
{
	CURLM	   *multi;
	CURL	   *easy;
	struct curl_slist *slist;
	LuxeBuf		body;
	LuxeBuf		headers;
	bool		headers_done;
	bool		finished;
	CURLcode	result;
	bool		shared_multi;	/* multi is stream_multi: not ours to free */
	char		errbuf[CURL_ERROR_SIZE];
} Transfer;

struct LuxeHttpStream
{
	Transfer	t;				/* t.body: bytes received and not yet read */
	long		status;
	bool		opened;			/* the headers are in (or the transfer ended) */
	bool		consumed;		/* body.data handed to the reader */
	LuxeHttpStats *stats;
	MemoryContextCallback cb;
};

static CURLSH *luxe_share = NULL;

/*
 * The one multi handle every stream of this backend is driven through:
 * driving the stream being read also moves the requests started ahead of
 * it (luxe_http_stream_start), so their round trips overlap.
 */
static CURLM *stream_multi = NULL;
static bool luxe_http_initialized = false;

static bool
buf_append(LuxeBuf *buf, const char *data, size_t len)
{
	if (buf->len + len + 1 > buf->cap)
	{
		size_t		newcap = buf->cap ? buf->cap : 4096;
		char	   *p;

		if (buf->len + len + 1 > buf->limit)
		{
			buf->overflow = true;
			return false;
		}
		while (newcap < buf->len + len + 1)
			newcap *= 2;
		p = realloc(buf->data, newcap);
		if (p == NULL)
		{
			buf->overflow = true;
			return false;
		}
		buf->data = p;
		buf->cap = newcap;
	}
	memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
	return true;
}

static void
buf_free(LuxeBuf *buf)
{
	free(buf->data);
	buf->data = NULL;
	buf->len = buf->cap = 0;
}

/* curl write callback: safe in a curl callback (no palloc, no ereport). */
static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	LuxeBuf    *buf = (LuxeBuf *) userdata;
	size_t		n = size * nmemb;

	/*
	 * Back-pressure for streams: once a buffer's worth waits for the
	 * reader, pause; curl keeps this chunk and hands it over again when the
	 * reader has taken the buffer and resumes the transfer.  Without this
	 * one curl_multi_perform can read many buffers' worth off a fast socket
	 * and memory grows with the speed difference.
	 */
	if (buf->pause_at > 0 && buf->len >= buf->pause_at)
	{
		buf->paused = true;
		return CURL_WRITEFUNC_PAUSE;
	}
	if (!buf_append(buf, ptr, n))
		return 0;				/* makes curl fail with CURLE_WRITE_ERROR */
	luxe_http_bytes_received += n;
	return n;
}

/*
 * curl header callback: collects "name: value" lines with lower-cased
 * names; a status line starts a new header block (redirects, 100 Continue).
 * Safe in a curl callback.
 */
typedef struct HeaderSink
{
	LuxeBuf    *buf;
	bool	   *done;
} HeaderSink;

static size_t
header_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	HeaderSink *sink = (HeaderSink *) userdata;
	size_t		n = size * nmemb;
	size_t		len = n;
	size_t		i;
	char		line[8192];

	while (len > 0 && (ptr[len - 1] == '\n' || ptr[len - 1] == '\r'))
		len--;
	if (len >= 5 && strncmp(ptr, "HTTP/", 5) == 0)
	{
		sink->buf->len = 0;
		if (sink->buf->data)
			sink->buf->data[0] = '\0';
		*sink->done = false;
		return n;
	}
	if (len == 0)
	{
		*sink->done = true;
		return n;
	}
	if (len >= sizeof(line) - 1)
		return n;				/* ignore absurd header lines */
	for (i = 0; i < len; i++)
	{
		char		c = ptr[i];

		if (c == ':')
		{
			memcpy(line + i, ptr + i, len - i);
			break;
		}
		line[i] = (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
	}
	line[len] = '\n';
	if (!buf_append(sink->buf, line, len + 1))
		return 0;
	return n;
}

/*
 * luxe_http_init
 *		Initialise libcurl once per backend.
 */
void
luxe_http_init(void)
{
	if (luxe_http_initialized)
		return;
	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialize libcurl")));
	luxe_share = curl_share_init();
	if (luxe_share)
	{
		curl_share_setopt(luxe_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
		curl_share_setopt(luxe_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	}
	luxe_http_initialized = true;
}

/*
 * luxe_http_header
 *		Find a header (lower-case name) in a "name: value\n" block; returns
 *		a palloc'd copy of the value, or NULL.
 */
const char *
luxe_http_header(const char *headers, const char *name)
{
	size_t		nlen = strlen(name);
	const char *p = headers;

	while (p && *p)
	{
		const char *eol = strchr(p, '\n');

		if (eol == NULL)
			eol = p + strlen(p);
		if ((size_t) (eol - p) > nlen && strncmp(p, name, nlen) == 0 &&
			p[nlen] == ':')
		{
			const char *v = p + nlen + 1;

			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			return pnstrdup(v, eol - v);
		}
		p = *eol ? eol + 1 : eol;
	}
	return NULL;
}

bool
luxe_http_status_retryable(long status)
{
	return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

/*
 * luxe_http_retry_delay_ms
 *		Truncated exponential backoff with jitter, as Google documents it:
 *		min(initial * 2^attempt + random jitter, retry_max_delay), where the
 *		jitter is up to one second (or up to the initial delay, when that
 *		is shorter).  A Retry-After in seconds wins when larger, even over
 *		retry_max_delay (up to LUXE_HTTP_MAX_RETRY_AFTER).  attempt
 *		counts from 0.  With the default initial delay of 1 s this is
 *		Google's 2^n s + up to 1000 ms.
 */
int
luxe_http_retry_delay_ms(const LuxeHttpConfig *cfg, int attempt,
						 const char *retry_after)
{
	int64		delay;
	int64		jitter = Min(1000, cfg->retry_initial_delay_ms);

	delay = (int64) cfg->retry_initial_delay_ms * ((int64) 1 << Min(attempt, 20));
	delay += (int64) pg_prng_uint64_range(&pg_global_prng_state, 0, (uint64) jitter);
	if (delay > cfg->retry_max_delay_ms)
		delay = cfg->retry_max_delay_ms;
	if (retry_after)
	{
		/* the server's own word wins over our cap, within reason */
		char	   *end;
		long		secs = strtol(retry_after, &end, 10);

		if (end != retry_after && secs >= 0)
			delay = Max(delay, (int64) Min(secs, LUXE_HTTP_MAX_RETRY_AFTER) * 1000);
	}
	return (int) delay;
}

/*
 * luxe_http_sleep
 *		Sleep interruptibly; a cancel during a backoff is honoured at once.
 */
void
luxe_http_sleep(int ms)
{
	TimestampTz end = GetCurrentTimestamp() + (TimestampTz) ms * 1000;

	for (;;)
	{
		long		left;

		CHECK_FOR_INTERRUPTS();
		left = (long) ((end - GetCurrentTimestamp()) / 1000);
		if (left <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(left, 1000), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

char *
luxe_http_escape(const char *s)
{
	char	   *esc = curl_easy_escape(NULL, s, (int) strlen(s));
	char	   *result;

	if (esc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	result = pstrdup(esc);
	curl_free(esc);
	return result;
}

/*
 * luxe_http_parse_url
 *		Parse url with libcurl's own URL parser, the one its transfers use,
 *		into *u (palloc'd strings).  Returns NULL, or why the URL is not
 *		usable.  Never throws for a bad URL.
 */
const char *
luxe_http_parse_url(const char *url, LuxeUrl *u)
{
	CURLU	   *h = curl_url();
	char	   *part = NULL;
	const char *why = NULL;

	memset(u, 0, sizeof(*u));
	if (h == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	if (curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
		why = "it is not a valid URL";
	if (why == NULL && curl_url_get(h, CURLUPART_SCHEME, &part, 0) == CURLUE_OK)
	{
		u->scheme = pstrdup(part);
		curl_free(part);
		part = NULL;
		for (char *c = u->scheme; *c; c++)
			*c = pg_ascii_tolower((unsigned char) *c);
		if (strcmp(u->scheme, "http") != 0 && strcmp(u->scheme, "https") != 0)
			why = "its scheme is not http or https";
	}
	else if (why == NULL)
		why = "it has no scheme";
	if (why == NULL)
	{
		if (curl_url_get(h, CURLUPART_HOST, &part, 0) != CURLUE_OK || part[0] == '\0')
			why = "it has no host";
		else
		{
			u->host = pstrdup(part);
			for (char *c = u->host; *c; c++)
				*c = pg_ascii_tolower((unsigned char) *c);
		}
		if (part)
			curl_free(part);
		part = NULL;
	}
	if (why == NULL)
	{
		if (curl_url_get(h, CURLUPART_PORT, &part, CURLU_DEFAULT_PORT) == CURLUE_OK)
			u->port = atoi(part);
		if (part)
			curl_free(part);
		part = NULL;
		if (curl_url_get(h, CURLUPART_USER, &part, 0) == CURLUE_OK)
			u->has_userinfo = true;
		if (part)
			curl_free(part);
		part = NULL;
		if (curl_url_get(h, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK)
			u->has_userinfo = true;
		if (part)
			curl_free(part);
		part = NULL;
		if (curl_url_get(h, CURLUPART_OPTIONS, &part, 0) == CURLUE_OK)
			u->has_userinfo = true;
		if (part)
			curl_free(part);
		part = NULL;
		if (curl_url_get(h, CURLUPART_QUERY, &part, 0) == CURLUE_OK)
			u->has_query = true;
		if (part)
			curl_free(part);
		part = NULL;
		if (curl_url_get(h, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK)
			u->has_query = true;
		if (part)
			curl_free(part);
		part = NULL;
	}
	curl_url_cleanup(h);
	return why;
}

/*
 * luxe_http_host_is_loopback
 *		True for a host (as luxe_http_parse_url gives it) that is certainly
 *		this machine: an address in 127.0.0.0/8, ::1, or "localhost" (which
 *		libcurl resolves to loopback without asking DNS).
 */
bool
luxe_http_host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (host[0] == '[')
	{
		size_t		len = strlen(host);
		char	   *bare;
		bool		result;

		if (len < 3 || host[len - 1] != ']')
			return false;
		bare = pnstrdup(host + 1, len - 2);
		result = inet_pton(AF_INET6, bare, &a6) == 1 &&
			memcmp(&a6, &in6addr_loopback, sizeof(a6)) == 0;
		pfree(bare);
		return result;
	}
	return false;
}

/* Google's own API hosts, which any role may use over https. */
static bool
is_google_host(const LuxeUrl *u)
{
	static const char suffix[] = ".googleapis.com";
	size_t		len = strlen(u->host);

	if (strcmp(u->scheme, "https") != 0)
		return false;
	return (len > sizeof(suffix) - 1 &&
			strcmp(u->host + len - (sizeof(suffix) - 1), suffix) == 0) ||
		strcmp(u->host, "accounts.google.com") == 0;
}

/*
 * Does luxe_fdw.allowed_endpoints list this host?  Entries are separated
 * by commas or spaces: "host" (any port), "host:port", "[v6]:port", and
 * "*.domain" for any host below domain.
 */
static bool
is_allow_listed(const LuxeUrl *u)
{
	char	   *list;
	char	   *tok;
	char	   *save = NULL;
	bool		found = false;

	if (luxe_http_allowed_endpoints == NULL || luxe_http_allowed_endpoints[0] == '\0')
		return false;
	list = pstrdup(luxe_http_allowed_endpoints);
	for (tok = strtok_r(list, ", \t", &save); tok && !found; tok = strtok_r(NULL, ", \t", &save))
	{
		char	   *colon;
		int			port = 0;

		for (char *c = tok; *c; c++)
			*c = pg_ascii_tolower((unsigned char) *c);
		colon = strrchr(tok, ':');
		if (colon && (tok[0] != '[' || (colon > tok && colon[-1] == ']')))
		{
			*colon = '\0';
			port = atoi(colon + 1);
		}
		if (port != 0 && port != u->port)
			continue;
		if (strncmp(tok, "*.", 2) == 0)
		{
			size_t		hl = strlen(u->host);
			size_t		sl = strlen(tok + 1);

			found = hl > sl && strcmp(u->host + hl - sl, tok + 1) == 0;
		}
		else
			found = strcmp(tok, u->host) == 0;
	}
	pfree(list);
	return found;
}

/*
 * luxe_http_check_destination
 *		Throw unless url is a destination luxe_fdw may send requests to on
 *		behalf of role: an http(s) URL without user name, password, query
 *		or fragment, judged by the host libcurl will connect to; with
 *		credentials, https unless the host is loopback; and, when role is
 *		valid and not a superuser, one of Google's API hosts or a host the
 *		superuser-set luxe_fdw.allowed_endpoints lists.  what names the URL
 *		in messages ("option \"endpoint\""); the URL itself is shown only
 *		as scheme://host:port, never with what follows.
 */
void
luxe_http_check_destination(const char *url, const char *what, Oid role,
							bool credentials)
{
	LuxeUrl		u;
	const char *why = luxe_http_parse_url(url, &u);
	char	   *shown;

	if (why != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid URL in %s", what),
				 errdetail("The value is not usable: %s.", why),
				 errhint("Give an http:// or https:// URL, such as \"https://storage.googleapis.com\".")));
	if (u.has_userinfo)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("%s must not contain a user name or password", what),
				 errhint("Credentials belong in a user mapping.")));
	if (u.has_query)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("%s must not contain a query or a fragment", what)));
	shown = psprintf("%s://%s:%d", u.scheme, u.host, u.port);
	if (credentials && strcmp(u.scheme, "http") == 0 &&
		!luxe_http_host_is_loopback(u.host))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot send credentials to \"%s\" over unencrypted HTTP", shown),
				 errhint("Use an https:// endpoint, or auth 'none' for a local emulator.")));
	if (OidIsValid(role) && !superuser_arg(role) && !is_google_host(&u) &&
		!is_allow_listed(&u))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not send requests to \"%s\"",
						GetUserNameFromId(role, false), shown),
				 errdetail("The URL is in %s.", what),
				 errhint("Roles that are not superusers may use Google's API hosts over https, and the hosts a superuser lists in luxe_fdw.allowed_endpoints.")));
}

/*
 * luxe_http_excerpt
 *		A bounded excerpt of remote text that is safe in a message: at most
 * LUXE_HTTP_EXCERPT bytes of its first line, cut on a character
 * boundary, control characters replaced, invalid UTF-8 replaced.
 * Palloc'd.
 */
char *
luxe_http_excerpt(const char *text, size_t len)
{
	StringInfoData buf;
	size_t		i = 0;

	initStringInfo(&buf);
	while (i < len && buf.len < LUXE_HTTP_EXCERPT)
	{
		unsigned char c = (unsigned char) text[i];
		int			n;

		if (c == '\n' || c == '\r' || c == '\0')
			break;
		if (c < 0x20 || c == 0x7f)
		{
			appendStringInfoChar(&buf, ' ');
			i++;
			continue;
		}
		n = pg_utf_mblen((const unsigned char *) text + i);
		if (i + n > len || !pg_utf8_islegal((const unsigned char *) text + i, n))
		{
			appendStringInfoChar(&buf, '?');
			i++;
			continue;
		}
		appendBinaryStringInfo(&buf, text + i, n);
		i += n;
	}
	if (i < len && text[i] != '\n' && text[i] != '\r')
		appendStringInfoString(&buf, "...");
	return buf.data;
}

/*
 * A URL as it may appear in a log line: without its query, which can carry
 * a credential (an upload session's upload_id is one, says Google).
 */
static char *
loggable_url(const char *url)
{
	const char *q = strchr(url, '?');

	return q ? psprintf("%.*s?...", (int) (q - url), url) : pstrdup(url);
}

static struct curl_slist *
build_slist(List *headers)
{
	struct curl_slist *slist = NULL;
	ListCell   *lc;

	foreach(lc, headers)
	{
		struct curl_slist *n = curl_slist_append(slist, (const char *) lfirst(lc));

		if (n == NULL)
		{
			curl_slist_free_all(slist);
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		}
		slist = n;
	}
	/* libcurl would otherwise send "Expect: 100-continue" on large bodies */
	slist = curl_slist_append(slist, "Expect:");
	return slist;
}

static void
set_common_options(CURL *easy, const LuxeHttpConfig *cfg, char *errbuf)
{
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long) cfg->connect_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "luxe_fdw/0.1");
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	if (luxe_share)
		curl_easy_setopt(easy, CURLOPT_SHARE, luxe_share);
	errbuf[0] = '\0';
}

/*
 * Drive a multi handle until the predicate holds or the transfer ends.
 * Runs in PostgreSQL code: polls at most LUXE_HTTP_POLL_MS at a time and
 * checks for interrupts in between, so it can throw (57014 on cancel).
 */
typedef bool (*DrivePredicate) (void *arg);

static void
drive(CURLM *multi, CURL *easy, bool *finished, CURLcode *result,
	  DrivePredicate pred, void *arg)
{
	for (;;)
	{
		int			running = 0;
		CURLMcode	mc;
		CURLMsg    *msg;
		int			left;

		mc = curl_multi_perform(multi, &running);
		if (mc != CURLM_OK)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not drive HTTP transfer"),
					 errdetail_internal("%s", curl_multi_strerror(mc))));
		while ((msg = curl_multi_info_read(multi, &left)) != NULL)
		{
			if (msg->msg != CURLMSG_DONE)
				continue;
			if (msg->easy_handle == easy)
			{
				*finished = true;
				*result = msg->data.result;
			}
			else
			{
				/* another stream's transfer ended (a shared multi) */
				Transfer   *other = NULL;

				curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &other);
				if (other)
				{
					other->finished = true;
					other->result = msg->data.result;
				}
			}
		}
		if (*finished || (pred && pred(arg)))
			return;

		pgstat_report_wait_start(PG_WAIT_EXTENSION);
		mc = curl_multi_poll(multi, NULL, 0, LUXE_HTTP_POLL_MS, NULL);
		pgstat_report_wait_end();
		if (mc != CURLM_OK)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not drive HTTP transfer"),
					 errdetail_internal("%s", curl_multi_strerror(mc))));
		CHECK_FOR_INTERRUPTS();
	}
}

static void
transfer_release(Transfer *t)
{
	if (t->multi && t->easy)
		curl_multi_remove_handle(t->multi, t->easy);
	if (t->easy)
		curl_easy_cleanup(t->easy);
	if (t->multi && !t->shared_multi)
		curl_multi_cleanup(t->multi);
	if (t->slist)
		curl_slist_free_all(t->slist);
	buf_free(&t->body);
	buf_free(&t->headers);
	t->multi = NULL;
	t->easy = NULL;
	t->slist = NULL;
}

/*
 * Create the handles of a transfer with the common options, the given
 * headers, and the body and header sinks; it is driven through multi (a
 * multi handle it does not own), or a multi handle of its own if NULL.
 * Can throw (out of memory).
 */
static void
transfer_init(Transfer *t, HeaderSink *sink, const LuxeHttpConfig *cfg,
			  const char *url, List *headers, CURLM *multi)
{
	t->shared_multi = (multi != NULL);
	t->multi = multi ? multi : curl_multi_init();
	t->easy = curl_easy_init();
	if (t->multi == NULL || t->easy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	t->slist = build_slist(headers);
	set_common_options(t->easy, cfg, t->errbuf);
	sink->buf = &t->headers;
	sink->done = &t->headers_done;
	curl_easy_setopt(t->easy, CURLOPT_PRIVATE, (char *) t);
	curl_easy_setopt(t->easy, CURLOPT_URL, url);
	curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->slist);
	curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, &t->body);
	curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, sink);
}

/*
 * luxe_http_request_once
 *		One attempt at a request: the whole response, palloc'd in the current
 *		memory context, or NULL after a transport failure, whose reason is
 *		then stored in *transport_error.  Callers that retry in their own way
 *		(resumable uploads ask the server how far they got) use this.  Can
 *		throw (interrupts, OOM, an oversized response).
 */
LuxeHttpResponse *
luxe_http_request_once(const LuxeHttpConfig *cfg, LuxeHttpStats *stats,
					   const char *method, const char *url, List *headers,
					   const char *body, size_t body_len, char **transport_error)
{
	volatile Transfer a;
	Transfer   *ap = (Transfer *) &a;
	LuxeHttpResponse *resp = NULL;

	luxe_http_init();
	*transport_error = NULL;
	memset(ap, 0, sizeof(Transfer));
	ap->body.limit = LUXE_HTTP_MAX_BODY;
	ap->headers.limit = LUXE_HTTP_MAX_HEADERS;

	PG_TRY();
	{
		HeaderSink	sink;

		transfer_init(ap, &sink, cfg, url, headers, NULL);
		curl_easy_setopt(ap->easy, CURLOPT_TIMEOUT_MS, (long) cfg->request_timeout_ms);
		curl_easy_setopt(ap->easy, CURLOPT_ACCEPT_ENCODING, "");
		if (strcmp(method, "GET") == 0)
			curl_easy_setopt(ap->easy, CURLOPT_HTTPGET, 1L);
		else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
		{
			if (strcmp(method, "PUT") == 0)
				curl_easy_setopt(ap->easy, CURLOPT_CUSTOMREQUEST, "PUT");
			curl_easy_setopt(ap->easy, CURLOPT_POST, 1L);
			curl_easy_setopt(ap->easy, CURLOPT_POSTFIELDS, body ? body : "");
			curl_easy_setopt(ap->easy, CURLOPT_POSTFIELDSIZE_LARGE,
							 (curl_off_t) (body ? body_len : 0));
		}
		else
			curl_easy_setopt(ap->easy, CURLOPT_CUSTOMREQUEST, method);

		curl_multi_add_handle(ap->multi, ap->easy);
		stats->requests++;
		elog(DEBUG1, "luxe_fdw: %s %s", method, loggable_url(url));
		drive(ap->multi, ap->easy, &ap->finished, &ap->result, NULL, NULL);

		if (ap->result == CURLE_OK)
		{
			resp = palloc0(sizeof(LuxeHttpResponse));
			curl_easy_getinfo(ap->easy, CURLINFO_RESPONSE_CODE, &resp->status);
			resp->body_len = ap->body.len;
			resp->body = palloc(ap->body.len + 1);
			if (ap->body.len)
				memcpy(resp->body, ap->body.data, ap->body.len);
			resp->body[ap->body.len] = '\0';
			resp->headers = pstrdup(ap->headers.data ? ap->headers.data : "");
			elog(DEBUG1, "luxe_fdw: HTTP %ld, %zu bytes", resp->status, resp->body_len);
		}
		else if (ap->body.overflow)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%s response is too large", cfg->service_name),
					 errdetail("Responses are limited to %zu bytes.", LUXE_HTTP_MAX_BODY)));
		else
			*transport_error = psprintf("%s",
										ap->errbuf[0] ? ap->errbuf :
										curl_easy_strerror(ap->result));
	}
	PG_FINALLY();
	{
		transfer_release(ap);
	}
	PG_END_TRY();

	return resp;
}

/*
 * luxe_http_request
 *		Perform a request and return the whole response, palloc'd in the
 *		current memory context.
 *
 * Retryable statuses and transport failures are retried when the request
 * is idempotent; the last response is returned whatever its status (the
 * caller maps Google's error body).  A transport failure that outlives the
 * retries is reported here as ERRCODE_CONNECTION_FAILURE.  Can throw.
 */
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
		if (resp == NULL && (!idempotent || attempt >= cfg->max_retries))
			luxe_http_report_transport_error(cfg, transport_error, attempt + 1);

		stats->retries++;
		elog(DEBUG1, "luxe_fdw: retrying after %s",
			 resp ? psprintf("HTTP %ld", resp->status) : transport_error);
		luxe_http_sleep(luxe_http_retry_delay_ms(cfg, attempt,
												 resp ? luxe_http_header(resp->headers, "retry-after") : NULL));
	}
}

/*
 * luxe_http_quietly
 *		Run fn(arg) as a best-effort step of teardown (cancel a job, delete
 *		an upload session or an object): an error it raises is swallowed,
 *		and the interrupt holdoff counts, which an ERROR resets, and the
 *		memory context are restored, so that this is safe during abort,
 *		where interrupts are held.  A query cancel or termination caught
 *		here is not lost: it is raised again at the next
 *		CHECK_FOR_INTERRUPTS.  Returns false when fn failed.
 */
bool
luxe_http_quietly(void (*fn) (void *arg), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	uint32		holdoff = InterruptHoldoffCount;
	uint32		cancel_holdoff = QueryCancelHoldoffCount;
	uint32		crit = CritSectionCount;
	volatile bool ok = true;

	PG_TRY();
	{
		fn(arg);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		InterruptHoldoffCount = holdoff;
		QueryCancelHoldoffCount = cancel_holdoff;
		CritSectionCount = crit;
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		{
			QueryCancelPending = true;
			InterruptPending = true;
		}
		else if (edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
		{
			ProcDiePending = true;
			InterruptPending = true;
		}
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * luxe_http_request_brief
 *		One request with short timeouts and no retries, for teardown (see
 *		luxe_http_quietly, which should wrap it).  Returns the response, or
 *		NULL on a transport failure.  Can throw.
 */
LuxeHttpResponse *
luxe_http_request_brief(const LuxeHttpConfig *cfg, LuxeHttpStats *stats,
						const char *method, const char *url, List *headers,
						const char *body, size_t body_len)
{
	LuxeHttpConfig brief = *cfg;
	char	   *transport_error;

	brief.connect_timeout_ms = Min(brief.connect_timeout_ms, 2000);
	brief.request_timeout_ms = Min(brief.request_timeout_ms, 5000);
	return luxe_http_request_once(&brief, stats, method, url, headers,
								  body ? body : "", body_len, &transport_error);
}

/*
 * luxe_http_report_transport_error
 *		Raise the error for a transport failure that outlived its retries.
 */
void
luxe_http_report_transport_error(const LuxeHttpConfig *cfg,
								 const char *transport_error, int attempts)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("could not connect to %s", cfg->service_name),
			 errdetail_internal("%s (after %d attempts)", transport_error, attempts),
			 errhint("Check the \"endpoint\" option of the server and the network.")));
}

/* ---------------------------------------------------------------------
 * Streaming downloads
 * ---------------------------------------------------------------------
 */

static void
stream_reset_callback(void *arg)
{
	transfer_release(&((LuxeHttpStream *) arg)->t);
}

static bool
headers_done_pred(void *arg)
{
	LuxeHttpStream *s = (LuxeHttpStream *) arg;

	return s->t.headers_done;
}

static bool
have_data_pred(void *arg)
{
	LuxeHttpStream *s = (LuxeHttpStream *) arg;

	return s->t.body.len > 0;
}

/*
 * luxe_http_stream_start
 *		Start a GET without waiting for its answer: the request is on its
 *		way, and every later wait on any stream of this backend moves it
 *		on.  luxe_http_stream_wait (or the first read) waits for the
 *		headers.  The stream is palloc'd in the current memory context and
 *		its curl resources are released when that context is reset or
 *		deleted, so an ERROR cannot leak them.  At most
 *		LUXE_HTTP_STREAM_BUFFER bytes of its body are held before the
 *		transfer pauses.  Can throw (interrupts, OOM).
 */
LuxeHttpStream *
luxe_http_stream_start(const LuxeHttpConfig *cfg, LuxeHttpStats *stats,
					   const char *url, List *headers)
{
	LuxeHttpStream *s = palloc0(sizeof(LuxeHttpStream));
	HeaderSink *sink = palloc(sizeof(HeaderSink));
	int			running;

	luxe_http_init();
	if (stream_multi == NULL)
	{
		stream_multi = curl_multi_init();
		if (stream_multi == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
	}
	s->stats = stats;
	s->t.body.limit = (size_t) 64 * 1024 * 1024;
	s->t.headers.limit = LUXE_HTTP_MAX_HEADERS;
	s->cb.func = stream_reset_callback;
	s->cb.arg = s;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &s->cb);

	/* driven with every other stream, through stream_multi */
	transfer_init(&s->t, sink, cfg, url, headers, stream_multi);
	s->t.body.pause_at = LUXE_HTTP_STREAM_BUFFER;
	curl_easy_setopt(s->t.easy, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(s->t.easy, CURLOPT_BUFFERSIZE, (long) LUXE_HTTP_STREAM_BUFFER);
	/* a stalled body is a transport failure the caller may resume from */
	curl_easy_setopt(s->t.easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	/* no byte for this long is a stall: 60 s, or a shorter request_timeout */
	curl_easy_setopt(s->t.easy, CURLOPT_LOW_SPEED_TIME,
					 (long) Max(1, Min(LUXE_HTTP_STALL_SECONDS, cfg->request_timeout_ms / 1000)));

	curl_multi_add_handle(s->t.multi, s->t.easy);
	stats->requests++;
	elog(DEBUG1, "luxe_fdw: GET %s (stream)", loggable_url(url));
	/* connect and send as far as that goes without waiting */
	curl_multi_perform(s->t.multi, &running);
	return s;
}

/*
 * luxe_http_stream_wait
 *		Wait until a started stream's response headers are in.  If the
 *		status is not 2xx the (capped) body is read completely and available
 *		from luxe_http_stream_error_body.  A transport failure before the
 *		headers leaves status 0 and the reason in
 *		luxe_http_stream_transport_error.  Can throw (interrupts).
 */
void
luxe_http_stream_wait(LuxeHttpStream *s)
{
	if (s->opened)
		return;
	s->opened = true;
	if (!s->t.headers_done && !s->t.finished)
		drive(s->t.multi, s->t.easy, &s->t.finished, &s->t.result, headers_done_pred, s);
	if (s->t.headers_done || (s->t.finished && s->t.result == CURLE_OK))
		curl_easy_getinfo(s->t.easy, CURLINFO_RESPONSE_CODE, &s->status);

	if (s->status != 0 && (s->status < 200 || s->status > 299))
	{
		/* read the error body, capped */
		s->t.body.limit = LUXE_HTTP_MAX_ERROR_BODY;
		s->t.body.pause_at = 0;
		if (s->t.body.paused)
		{
			s->t.body.paused = false;
			curl_easy_pause(s->t.easy, CURLPAUSE_CONT);
		}
		if (!s->t.finished)
			drive(s->t.multi, s->t.easy, &s->t.finished, &s->t.result, NULL, NULL);
	}
	elog(DEBUG1, "luxe_fdw: HTTP %ld (stream)", s->status);
}

/*
 * luxe_http_stream_open
 *		Start a GET and wait until the response headers are in (see
 *		luxe_http_stream_start and luxe_http_stream_wait).
 */
LuxeHttpStream *
luxe_http_stream_open(const LuxeHttpConfig *cfg, LuxeHttpStats *stats,
					  const char *url, List *headers)
{
	LuxeHttpStream *s = luxe_http_stream_start(cfg, stats, url, headers);

	luxe_http_stream_wait(s);
	return s;
}

long
luxe_http_stream_status(LuxeHttpStream *stream)
{
	return stream->status;
}

const char *
luxe_http_stream_header(LuxeHttpStream *stream, const char *name)
{
	return luxe_http_header(stream->t.headers.data ? stream->t.headers.data : "", name);
}

const char *
luxe_http_stream_error_body(LuxeHttpStream *stream)
{
	return stream->t.body.data ? pstrdup(stream->t.body.data) : "";
}

const char *
luxe_http_stream_transport_error(LuxeHttpStream *stream)
{
	if (stream->t.finished && stream->t.result != CURLE_OK)
		return psprintf("%s", stream->t.errbuf[0] ? stream->t.errbuf :
						curl_easy_strerror(stream->t.result));
	if (stream->status == 0)
		return "no response";
	return NULL;
}

/*
 * luxe_http_stream_read
 *		Return the next bytes of the body in *data (valid until the next
 *		call).  Returns the number of bytes, 0 at the end of a complete
 *		body, or -1 when the transfer broke (see
 *		luxe_http_stream_transport_error).  Can throw on interrupts.
 */
ssize_t
luxe_http_stream_read(LuxeHttpStream *s, const char **data)
{
	luxe_http_stream_wait(s);
	if (s->consumed)
	{
		s->t.body.len = 0;
		s->consumed = false;
		if (s->t.body.paused)
		{
			/* may deliver the held chunk at once, into the empty buffer */
			s->t.body.paused = false;
			curl_easy_pause(s->t.easy, CURLPAUSE_CONT);
		}
	}
	if (s->t.body.len == 0 && !s->t.finished)
		drive(s->t.multi, s->t.easy, &s->t.finished, &s->t.result, have_data_pred, s);

	if (s->t.body.len > 0)
	{
		*data = s->t.body.data;
		s->consumed = true;
		s->stats->bytes += s->t.body.len;
		return (ssize_t) s->t.body.len;
	}
	if (s->t.finished && s->t.result == CURLE_OK)
		return 0;
	return -1;
}

/*
 * luxe_http_stream_close
 *		Release the stream's curl resources now (the reset callback would
 *		otherwise do it with the memory context).
 */
void
luxe_http_stream_close(LuxeHttpStream *stream)
{
	transfer_release(&stream->t);
}
