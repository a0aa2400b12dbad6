/*-------------------------------------------------------------------------
 *
 * gcs.c
 *		  Google Cloud Storage JSON API client of luxe_fdw.
 *
 * Design assumptions and invariants:
 * - An object name is one URL path segment, percent-encoded including '/'.
 * - Every read of an object names the generation seen when the object was
 *   listed, so a scan never mixes two versions: if the object is replaced
 *   meanwhile, GCS answers 404 for the old generation and the scan fails
 *   with a clear error instead of returning mixed data.
 * - Downloads ask for the stored bytes (Accept-Encoding: gzip, so GCS does
 *   not transcode): their CRC32C is checked against the listed one at the
 *   end, a body cut mid-transfer is resumed with a Range request from the
 *   next unread stored byte, so no byte is lost or read twice, and gzip
 *   objects (Content-Encoding gzip, or named *.gz) are inflated here.  A
 *   server that transcodes anyway is detected; such a body is neither
 *   hashed nor resumable.
 * - Listing follows nextPageToken until it is absent; names are returned
 *   in byte order, as GCS lists them.
 * - A bq-load style wildcard has one '*' after the bucket that matches any
 *   run of characters, '/' included.
 * - This file uses jansson and must not include utils/builtins.h (their
 *   json_object declarations clash).
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/gcs.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <jansson.h>
#include <zlib.h>

#include "common/base64.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "port/pg_crc32c.h"

#include "gcs.h"
#include "google.h"

#define LUXE_GCS_LIST_FIELDS "items(name,size,generation,contentEncoding,crc32c,updated),nextPageToken"

#define LUXE_INFLATE_CHUNK (256 * 1024)

struct LuxeGcsReader
{
	LuxeGcsClient *client;
	LuxeGcsObject *object;
	LuxeHttpStream *stream;
	LuxeHttpStream *prefetched; /* the first request, started ahead */
	int64		offset;			/* stored bytes received so far */
	int64		limit;			/* requests ask for bytes before this */
	int64		window;			/* > 0: ask for this many at a time */
	int			attempt;		/* retries since the last progress */
	int64		opened_at;		/* offset the current request started at */
	bool		transcoded;		/* body is not the stored bytes */
	bool		partial;		/* started past byte 0: no CRC32C check */
	int64		skip;			/* content bytes still to discard */
	bool		eof;
	pg_crc32c	crc;			/* CRC32C of the stored bytes so far */
	/* gzip: stored bytes are inflated here before they are returned */
	bool		gzip;
	bool		zlive;
	z_stream	z;
	const char *zin;			/* stored bytes not yet inflated */
	size_t		zin_len;
	bool		zmember;		/* inside a gzip member */
	char	   *zout;
	MemoryContextCallback zcb;
};

/*
 * luxe_gcs_parse_uri
 *		Split gs://bucket/object into palloc'd parts.  The option validator
 *		has checked the form already.
 */
void
luxe_gcs_parse_uri(const char *uri, char **bucket, char **object)
{
	const char *b = uri + 5;
	const char *slash;

	if (strncmp(uri, "gs://", 5) != 0 || (slash = strchr(b, '/')) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid GCS URI \"%s\"", uri)));
	*bucket = pnstrdup(b, slash - b);
	*object = pstrdup(slash + 1);
}

char *
luxe_gcs_object_uri(const LuxeGcsObject *object)
{
	return psprintf("gs://%s/%s", object->bucket, object->name);
}

/*
 * luxe_gcs_client_init
 *		Build a GCS client for a user of a server: a GCS server, or a
 *		BigQuery server whose load jobs stage rows in GCS.  The credentials
 *		live only in the client; tokens are fetched (or taken from the
 *		cache) when a request is made.  Everything is palloc'd in the
 *		current memory context.  Can throw.
 */
void
luxe_gcs_client_init(LuxeGcsClient *client, LuxeHttpStats *stats,
					 const LuxeServerOptions *server, Oid serverid, Oid userid)
{
	memset(client, 0, sizeof(*client));
	luxe_google_client_init(&client->google, stats, server, "GCS",
							luxe_option_gcs_endpoint(server), serverid, userid);
}

/*
 * A GET with the credentials (see luxe_google_call for the renewal on
 * 401 and the retries).
 */
static LuxeHttpResponse *
gcs_get(LuxeGcsClient *client, const char *url)
{
	return luxe_google_call(&client->google, "GET", url, NIL, NULL, 0, true);
}

/*
 * Report a failed GCS call.  what/uri name the object or bucket.  Always
 * throws; the SQLSTATE comes from luxe_google_sqlstate.
 */
static void
report_gcs_error(long status, const char *body, const char *what,
				 const char *uri)
{
	LuxeGoogleError error;
	char	   *detail;
	int			sqlstate;

	luxe_google_parse_error(status, body, body ? strlen(body) : 0, &error);
	sqlstate = luxe_google_sqlstate(status, error.reason);
	detail = psprintf("GCS returned HTTP %ld%s%s%s: %s%s", status,
					  error.reason ? " (" : "", error.reason ? error.reason : "",
					  error.reason ? ")" : "", error.message,
					  error.message[strlen(error.message) - 1] == '.' ? "" : ".");

	/* the message follows the code, so a 403 rate limit is not "denied" */
	switch (sqlstate)
	{
		case ERRCODE_FDW_TABLE_NOT_FOUND:
			ereport(ERROR,
					(errcode(sqlstate),
					 errmsg("GCS %s \"%s\" does not exist", what, uri),
					 errdetail_internal("%s", detail)));
			break;
		case ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION:
			ereport(ERROR,
					(errcode(sqlstate),
					 errmsg("could not authenticate to GCS for %s \"%s\"", what, uri),
					 errdetail_internal("%s", detail),
					 errhint("Check the credentials in the user mapping.")));
			break;
		case ERRCODE_INSUFFICIENT_PRIVILEGE:
			ereport(ERROR,
					(errcode(sqlstate),
					 errmsg("permission denied for GCS %s \"%s\"", what, uri),
					 errdetail_internal("%s", detail),
					 errhint("Grant the account of the user mapping access to the bucket.")));
			break;
		default:
			ereport(ERROR,
					(errcode(sqlstate),
					 errmsg("could not read GCS %s \"%s\"", what, uri),
					 errdetail_internal("%s", detail)));
			break;
	}
}

static int64
json_int64_field(json_t *obj, const char *key)
{
	json_t	   *v = json_object_get(obj, key);

	/* GCS sends uint64/int64 as JSON strings; accept numbers as well */
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	if (json_is_integer(v))
		return (int64) json_integer_value(v);
	return 0;
}

static char *
json_str_field(json_t *obj, const char *key)
{
	json_t	   *v = json_object_get(obj, key);

	return json_is_string(v) ? pstrdup(json_string_value(v)) : NULL;
}

static LuxeGcsObject *
object_from_json(const char *bucket, json_t *item)
{
	LuxeGcsObject *o = palloc0(sizeof(LuxeGcsObject));

	o->bucket = pstrdup(bucket);
	o->name = json_str_field(item, "name");
	if (o->name == NULL || o->name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_FDW_REPLY_HANDLE),
				 errmsg("GCS described an object of bucket \"%s\" without a name", bucket)));
	o->size = json_int64_field(item, "size");
	o->generation = json_int64_field(item, "generation");
	o->content_encoding = json_str_field(item, "contentEncoding");
	if (o->content_encoding && strcmp(o->content_encoding, "identity") == 0)
		o->content_encoding = NULL;
	o->crc32c = json_str_field(item, "crc32c");
	o->updated = json_str_field(item, "updated");
	return o;
}

/*
 * A GET whose 200 answer is a JSON object: the parsed object, or NULL with
 * *resp set for any other status.  A 200 whose body does not parse (cut
 * short by a proxy, say) is asked again, with the usual backoff, like a
 * broken transfer; when the retries are spent it is an error.
 */
static json_t *
gcs_get_json(LuxeGcsClient *client, const char *url, const char *uri,
			 LuxeHttpResponse **resp)
{
	int			attempt = 0;

	for (;;)
	{
		json_error_t jerr;
		json_t	   *root;

		*resp = gcs_get(client, url);
		if ((*resp)->status != 200)
			return NULL;
		root = json_loadb((*resp)->body, (*resp)->body_len, 0, &jerr);
		if (root != NULL && json_is_object(root))
			return root;
		json_decref(root);
		if (attempt >= client->google.http.max_retries)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_REPLY_HANDLE),
					 errmsg("could not parse GCS response for \"%s\"", uri),
					 errdetail_internal("%s (line %d, column %d), after %d attempts.", jerr.text,
										jerr.line, jerr.column, attempt + 1)));
		client->google.stats->retries++;
		luxe_http_sleep(luxe_http_retry_delay_ms(&client->google.http, attempt, NULL));
		attempt++;
	}
}

static int
object_name_cmp(const ListCell *a, const ListCell *b)
{
	const LuxeGcsObject *oa = lfirst(a);
	const LuxeGcsObject *ob = lfirst(b);

	return strcmp(oa->name, ob->name);
}

/*
 * luxe_gcs_list_uri
 *		The objects a gs:// URI names: one object (gs://b/o#generation pins
 *		a generation, which must still exist), every object matching a
 *		wildcard, or the union of a comma-separated list of those, in name
 *		order.  A List of LuxeGcsObject palloc'd in the
 *		current context.  A missing object, bucket or an empty wildcard match
 *		is an error unless missing_ok.  Can throw.
 *
 * NB: the jansson tree is freed on every path that returns normally; an
 * ERROR thrown while it is live (only out-of-memory in pstrdup) leaks it,
 * which is bounded by one response page.
 */
static List *list_one_uri(LuxeGcsClient *client, const char *uri, bool missing_ok);

List *
luxe_gcs_list_uri(LuxeGcsClient *client, const char *uri, bool missing_ok)
{
	List	   *result = NIL;
	char	   *copy;
	char	   *part;
	char	   *save = NULL;

	if (strchr(uri, ',') == NULL)
		return list_one_uri(client, uri, missing_ok);

	/* a list, as bq load takes: each part listed, the union in name order */
	copy = pstrdup(uri);
	for (part = strtok_r(copy, ",", &save); part; part = strtok_r(NULL, ",", &save))
	{
		ListCell   *lc;

		while (*part == ' ')
			part++;
		foreach(lc, list_one_uri(client, part, missing_ok))
		{
			LuxeGcsObject *o = lfirst(lc);
			ListCell   *dup;
			bool		seen = false;

			foreach(dup, result)
			{
				LuxeGcsObject *d = lfirst(dup);

				if (strcmp(d->bucket, o->bucket) == 0 && strcmp(d->name, o->name) == 0)
					seen = true;
			}
			if (!seen)
				result = lappend(result, o);
		}
	}
	list_sort(result, object_name_cmp);
	return result;
}

/* One URI of a list: an object (maybe pinned, #generation) or a wildcard. */
static List *
list_one_uri(LuxeGcsClient *client, const char *uri, bool missing_ok)
{
	char	   *bucket;
	char	   *pattern;
	char	   *star;
	char	   *hash;
	int64		pinned = 0;
	List	   *result = NIL;

	luxe_gcs_parse_uri(uri, &bucket, &pattern);
	star = strchr(pattern, '*');
	/* gs://bucket/object#generation: that generation, or an error */
	hash = star ? NULL : strrchr(pattern, '#');
	if (hash && hash[1] != '\0' && strspn(hash + 1, "0123456789") == strlen(hash + 1))
	{
		pinned = strtoi64(hash + 1, NULL, 10);
		*hash = '\0';
	}

	if (star == NULL)
	{
		char	   *url = psprintf("%s/storage/v1/b/%s/o/%s?fields=%s%s",
								   client->google.endpoint, luxe_http_escape(bucket),
								   luxe_http_escape(pattern),
								   "name,size,generation,contentEncoding,crc32c,updated",
								   pinned ? psprintf("&generation=" INT64_FORMAT, pinned) : "");
		LuxeHttpResponse *resp;
		json_t	   *root = gcs_get_json(client, url, uri, &resp);

		if (root == NULL && resp->status == 404 && missing_ok)
			return NIL;
		if (root == NULL)
			report_gcs_error(resp->status, resp->body, "object", uri);
		PG_TRY();
		{
			result = list_make1(object_from_json(bucket, root));
		}
		PG_FINALLY();
		{
			json_decref(root);
		}
		PG_END_TRY();
		return result;
	}
	else
	{
		char	   *prefix = pnstrdup(pattern, star - pattern);
		const char *suffix = star + 1;
		size_t		suffix_len = strlen(suffix);
		size_t		prefix_len = strlen(prefix);
		char	   *page_token = NULL;

		do
		{
			StringInfoData url;
			LuxeHttpResponse *resp;
			json_t	   *root;
			json_t	   *items;
			json_t	   *next;
			size_t		i;

			initStringInfo(&url);
			appendStringInfo(&url, "%s/storage/v1/b/%s/o?prettyPrint=false&prefix=%s&fields=%s",
							 client->google.endpoint, luxe_http_escape(bucket),
							 luxe_http_escape(prefix),
							 luxe_http_escape(LUXE_GCS_LIST_FIELDS));
			if (page_token)
				appendStringInfo(&url, "&pageToken=%s", luxe_http_escape(page_token));
			root = gcs_get_json(client, url.data, uri, &resp);
			/* a listing 404s only for a missing bucket: always an error */
			if (root == NULL)
				report_gcs_error(resp->status, resp->body, "bucket",
								 psprintf("gs://%s", bucket));
			items = json_object_get(root, "items");
			for (i = 0; json_is_array(items) && i < json_array_size(items); i++)
			{
				json_t	   *item = json_array_get(items, i);
				json_t	   *name = json_object_get(item, "name");
				const char *n;
				size_t		nlen;

				/* (an item without a name is nothing a scan could read) */
				if (!json_is_string(name) || json_string_length(name) == 0)
					continue;
				n = json_string_value(name);
				nlen = strlen(n);
				/* '*' matches any run, so only the suffix needs checking */
				if (nlen < prefix_len + suffix_len ||
					strcmp(n + nlen - suffix_len, suffix) != 0)
					continue;
				/* a "directory placeholder" object holds no rows */
				if (nlen > 0 && n[nlen - 1] == '/' && json_int64_field(item, "size") == 0)
					continue;
				result = lappend(result, object_from_json(bucket, item));
			}
			next = json_object_get(root, "nextPageToken");
			page_token = json_is_string(next) && json_string_length(next) > 0 ?
				pstrdup(json_string_value(next)) : NULL;
			json_decref(root);
			pfree(url.data);
		} while (page_token != NULL);

		if (result == NIL && !missing_ok)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_TABLE_NOT_FOUND),
					 errmsg("no GCS object matches \"%s\"", uri),
					 errhint("Check the \"uri\" option; \"*\" matches any characters, including \"/\".")));
		list_sort(result, object_name_cmp);
		return result;
	}
}

/*
 * Start (or resume) the media download of the reader's object from its
 * current offset.  Retryable failures are retried here; on return the
 * stream is delivering body bytes.  Can throw.
 */
static void reader_reset_callback(void *arg);

/*
 * Start the media download of an object, pinned to its generation, from
 * stored byte offset; the answer is awaited by luxe_http_stream_wait.
 */
static LuxeHttpStream *
start_media_request(LuxeGcsClient *client, LuxeGcsObject *o, int64 offset, int64 limit)
{
	char	   *url = psprintf("%s/storage/v1/b/%s/o/%s?alt=media&generation=" INT64_FORMAT,
							   client->google.endpoint, luxe_http_escape(o->bucket),
							   luxe_http_escape(o->name), o->generation);
	List	   *headers = luxe_google_auth_headers(&client->google);

	/*
	 * Ask for the stored bytes: their CRC32C is the one GCS keeps, and
	 * byte offsets of a resumed transfer refer to them.  A gzip object is
	 * inflated here.
	 */
	headers = lappend(headers, "Accept-Encoding: gzip");
	if (limit < o->size)
		headers = lappend(headers, psprintf("Range: bytes=" INT64_FORMAT "-" INT64_FORMAT,
											offset, limit - 1));
	else if (offset > 0)
		headers = lappend(headers, psprintf("Range: bytes=" INT64_FORMAT "-", offset));
	return luxe_http_stream_start(&client->google.http, client->google.stats, url, headers);
}

/*
 * luxe_gcs_prefetch
 *		Start reading an object's content from its first byte now, for
 *		luxe_gcs_open_stream to take over later: many small objects are
 *		then not read one round trip after another.  The request lives in
 *		the current memory context.  Can throw.
 */
LuxeHttpStream *
luxe_gcs_prefetch(LuxeGcsClient *client, LuxeGcsObject *object)
{
	return start_media_request(client, object, 0, object->size);
}

static void
open_at_offset(LuxeGcsReader *r)
{
	LuxeGcsClient *client = r->client;
	LuxeGcsObject *o = r->object;
	char	   *uri = luxe_gcs_object_uri(o);
	bool		refreshed = false;

	r->opened_at = r->offset;
	for (;;)
	{
		long		status;
		const char *transport;

		/* the first attempt may have been started ahead (a prefetch) */
		if (r->prefetched && r->offset == 0)
			r->stream = r->prefetched;
		else
			r->stream = start_media_request(client, o, r->offset, r->limit);
		r->prefetched = NULL;
		luxe_http_stream_wait(r->stream);
		status = luxe_http_stream_status(r->stream);
		transport = luxe_http_stream_transport_error(r->stream);

		if ((status == 200 && r->offset == 0) || status == 206)
		{
			if (status == 206)
			{
				const char *cr = luxe_http_stream_header(r->stream, "content-range");
				char		expect[64];

				snprintf(expect, sizeof(expect), "bytes " INT64_FORMAT "-", r->offset);
				if (cr == NULL || strncmp(cr, expect, strlen(expect)) != 0)
					ereport(ERROR,
							(errcode(ERRCODE_FDW_REPLY_HANDLE),
							 errmsg("could not resume GCS object \"%s\" at byte " INT64_FORMAT, uri, r->offset),
							 errdetail("The server answered with Content-Range \"%s\".", cr ? cr : "")));
			}
			else
			{
				const char *stored = luxe_http_stream_header(r->stream, "x-goog-stored-content-encoding");
				const char *ce = luxe_http_stream_header(r->stream, "content-encoding");

				r->transcoded = (stored && strcmp(stored, "gzip") == 0 &&
								 !(ce && strcmp(ce, "gzip") == 0));
			}
			return;
		}
		if (status == 200 && r->offset > 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_REPLY_HANDLE),
					 errmsg("could not resume GCS object \"%s\" at byte " INT64_FORMAT, uri, r->offset),
					 errdetail("The server ignored the Range header.")));
		if (!refreshed && luxe_google_renew_token(&client->google, status))
		{
			/* a revoked or expired token: once more with a fresh one */
			luxe_http_stream_close(r->stream);
			refreshed = true;
			continue;
		}
		if (status == 404)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_TABLE_NOT_FOUND),
					 errmsg("GCS object \"%s\" generation " INT64_FORMAT " is no longer available", uri, o->generation),
					 errdetail("The object was replaced or deleted after the scan started."),
					 errhint("Run the query again to read the current version.")));
		if (status != 0 && !luxe_http_status_retryable(status))
			report_gcs_error(status, luxe_http_stream_error_body(r->stream), "object", uri);

		if (r->attempt >= client->google.http.max_retries)
		{
			if (status != 0)
				report_gcs_error(status, luxe_http_stream_error_body(r->stream), "object", uri);
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not read GCS object \"%s\"", uri),
					 errdetail_internal("%s (after %d attempts).", transport ? transport : "no response",
										r->attempt + 1)));
		}
		{
			const char *retry_after = luxe_http_stream_header(r->stream, "retry-after");

			luxe_http_stream_close(r->stream);
			r->stream = NULL;
			client->google.stats->retries++;
			elog(DEBUG1, "luxe_fdw: retrying %s at byte " INT64_FORMAT " (HTTP %ld), backoff step %d",
				 uri, r->offset, status, r->attempt);
			luxe_http_sleep(luxe_http_retry_delay_ms(&client->google.http, r->attempt, retry_after));
			r->attempt++;
		}
	}
}

/*
 * luxe_gcs_object_gzip
 *		Whether an object is read through the inflater: stored with
 *		Content-Encoding gzip, or named *.gz.
 */
bool
luxe_gcs_object_gzip(const LuxeGcsObject *o)
{
	size_t		nlen = strlen(o->name);

	return (o->content_encoding && strcmp(o->content_encoding, "gzip") == 0) ||
		(nlen > 3 && strcmp(o->name + nlen - 3, ".gz") == 0);
}

/* A split object has at most this many ranges (each has a slot in DSM). */
#define LUXE_GCS_MAX_RANGES 100000

/*
 * luxe_gcs_object_range_size
 *		The size of the ranges a parallel scan splits an object into:
 *		range_size, or larger for an object that would have more than
 *		LUXE_GCS_MAX_RANGES.
 */
int64
luxe_gcs_object_range_size(const LuxeGcsObject *o, int64 range_size)
{
	return Max(range_size, (o->size + LUXE_GCS_MAX_RANGES - 1) / LUXE_GCS_MAX_RANGES);
}

/*
 * luxe_gcs_object_ranges
 *		Into how many byte ranges a parallel scan splits an object: 1 for a
 *		small one, and for a gzip one, which can only be inflated from its
 *		start.
 */
int
luxe_gcs_object_ranges(const LuxeGcsObject *o, int64 range_size)
{
	int64		size;

	if (range_size <= 0 || o->size <= range_size || luxe_gcs_object_gzip(o))
		return 1;
	size = luxe_gcs_object_range_size(o, range_size);
	return (int) ((o->size + size - 1) / size);
}

/*
 * luxe_gcs_open_stream
 *		Start reading an object's content, pinned to its listed generation,
 *		from content byte content_offset (0: the whole object).  An
 *		identity object is read from there with a Range request, and its
 *		CRC32C is then not checked (a caller resumes an object it has
 *		read, and checked, to the end already); a gzip object is inflated
 *		from its start and the content before the offset discarded.  The
 *		reader lives in the current memory context.  Can throw.
 */
LuxeGcsReader *
luxe_gcs_open_stream(LuxeGcsClient *client, LuxeGcsObject *object,
					 int64 content_offset)
{
	return luxe_gcs_open_prefetched(client, object, content_offset, NULL);
}

/*
 * luxe_gcs_open_window
 *		luxe_gcs_open_stream of an identity object from offset whose first
 *		request asks for the bytes before limit only, and each later one
 *		for twice as many as the one before (64 kB first), up to the end of
 *		the object: a reader that stops somewhere after limit (a range of a
 *		parallel scan) fetches little more than it reads.  No CRC32C check.
 *		Can throw.
 */
LuxeGcsReader *
luxe_gcs_open_window(LuxeGcsClient *client, LuxeGcsObject *object,
					 int64 offset, int64 limit)
{
	LuxeGcsReader *r = palloc0(sizeof(LuxeGcsReader));

	Assert(!luxe_gcs_object_gzip(object));
	r->client = client;
	r->object = object;
	INIT_CRC32C(r->crc);
	r->offset = offset;
	r->partial = true;
	r->window = 32 * 1024;
	r->limit = Min(object->size, Max(limit, offset + 1));
	open_at_offset(r);
	return r;
}

/*
 * luxe_gcs_open_prefetched
 *		luxe_gcs_open_stream, whose first request is prefetched (from
 *		luxe_gcs_prefetch of this object; NULL: none).  A prefetched request
 *		that fails is retried like any first attempt.
 */
LuxeGcsReader *
luxe_gcs_open_prefetched(LuxeGcsClient *client, LuxeGcsObject *object,
						 int64 content_offset, LuxeHttpStream *prefetched)
{
	LuxeGcsReader *r = palloc0(sizeof(LuxeGcsReader));

	r->client = client;
	r->object = object;
	r->prefetched = prefetched;
	r->limit = object->size;
	INIT_CRC32C(r->crc);
	r->gzip = luxe_gcs_object_gzip(object);
	if (content_offset > 0 && !r->gzip)
	{
		r->offset = content_offset;
		r->partial = true;
	}
	else
		r->skip = content_offset;
	open_at_offset(r);
	if (r->transcoded)
		r->gzip = false;		/* the server inflated it already */
	if (r->gzip)
	{
		/* windowBits 15 + 32: zlib or gzip header, detected */
		if (inflateInit2(&r->z, 15 + 32) != Z_OK)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		r->zlive = true;
		r->zcb.func = reader_reset_callback;
		r->zcb.arg = r;
		MemoryContextRegisterResetCallback(CurrentMemoryContext, &r->zcb);
		r->zout = palloc(LUXE_INFLATE_CHUNK);
	}
	return r;
}

static void
reader_reset_callback(void *arg)
{
	LuxeGcsReader *r = (LuxeGcsReader *) arg;

	if (r->zlive)
		inflateEnd(&r->z);
	r->zlive = false;
}

/*
 * A running CRC32C, finished and written as GCS writes it: base64 of the
 * big-endian value.  Palloc'd.
 */
static char *
crc32c_base64(pg_crc32c crc)
{
	unsigned char be[4];
	char	   *b64 = palloc(9);
	int			n;

	FIN_CRC32C(crc);
	be[0] = (crc >> 24) & 0xFF;
	be[1] = (crc >> 16) & 0xFF;
	be[2] = (crc >> 8) & 0xFF;
	be[3] = crc & 0xFF;
	n = pg_b64_encode((const char *) be, 4, b64, 8);
	b64[Max(n, 0)] = '\0';
	return b64;
}

/*
 * At the end of the stored bytes, compare their CRC32C with the one GCS
 * listed for the pinned generation.  Objects without a crc32c, transcoded
 * bodies and reads that started past the first byte are not checked.
 */
static void
verify_crc32c(LuxeGcsReader *r)
{
	char	   *b64;

	if (r->transcoded || r->partial || r->object->crc32c == NULL)
		return;
	b64 = crc32c_base64(r->crc);
	if (strcmp(b64, r->object->crc32c) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("checksum mismatch for GCS object \"%s\"", luxe_gcs_object_uri(r->object)),
				 errdetail("GCS lists crc32c %s for generation " INT64_FORMAT ", the bytes read have %s.",
						   r->object->crc32c, r->object->generation, b64)));
}

/*
 * The next stored bytes of the object (valid until the next call); 0 at
 * the end, after the checksum is verified.  A broken transfer is resumed
 * from the next unread byte.  Can throw.
 */
static ssize_t
read_stored(LuxeGcsReader *r, const char **data)
{
	for (;;)
	{
		ssize_t		n;
		const char *why;

		if (r->eof)
			return 0;
		n = luxe_http_stream_read(r->stream, data);
		if (n > 0)
		{
			/* (a part of an object has no checksum to check against) */
			if (!r->transcoded && !r->partial)
				COMP_CRC32C(r->crc, *data, n);
			r->offset += n;
			r->attempt = 0;
			return n;
		}
		if (n == 0 && !r->transcoded && r->offset >= r->limit && r->limit < r->object->size)
		{
			/* the end of a window: ask for the next, twice as large */
			luxe_http_stream_close(r->stream);
			r->stream = NULL;
			r->window *= 2;
			r->limit = Min(r->object->size, r->offset + r->window);
			open_at_offset(r);
			continue;
		}
		if (n == 0 && (r->transcoded || r->offset >= r->object->size))
		{
			r->eof = true;
			luxe_http_stream_close(r->stream);
			verify_crc32c(r);
			return 0;
		}

		/* the body broke off, or ended early: resume where it stopped */
		why = n == 0 ? "the body ended early" : luxe_http_stream_transport_error(r->stream);
		luxe_http_stream_close(r->stream);
		r->stream = NULL;
		if (r->transcoded || r->attempt >= r->client->google.http.max_retries)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not read GCS object \"%s\"", luxe_gcs_object_uri(r->object)),
					 errdetail_internal("The transfer broke off after " INT64_FORMAT " bytes: %s.",
										r->offset, why ? why : "unknown error")));
		elog(DEBUG1, "luxe_fdw: resuming %s at byte " INT64_FORMAT ": %s",
			 luxe_gcs_object_uri(r->object), r->offset, why ? why : "");
		r->client->google.stats->retries++;

		/*
		 * After progress the resume is immediate and is no retry of a
		 * failure: should its request fail, the backoff starts over (a
		 * stream that breaks after every few MB must not wait longer each
		 * time).  Without progress it waits as any retry does.
		 */
		if (r->offset > r->opened_at)
			r->attempt = 0;
		else
		{
			luxe_http_sleep(luxe_http_retry_delay_ms(&r->client->google.http, r->attempt, NULL));
			r->attempt++;
		}
		open_at_offset(r);
	}
}

/*
 * The next bytes of the object's content: gzip objects (Content-Encoding
 * gzip, or named *.gz) are inflated, concatenated members included.
 */
static ssize_t
read_content(LuxeGcsReader *r, const char **data)
{
	if (!r->gzip)
		return read_stored(r, data);

	for (;;)
	{
		int			rc;

		if (r->zin_len == 0)
		{
			ssize_t		n = read_stored(r, &r->zin);

			if (n == 0)
			{
				if (r->zmember)
					ereport(ERROR,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg("could not decompress GCS object \"%s\"", luxe_gcs_object_uri(r->object)),
							 errdetail("The gzip data ends before the end of its last member.")));
				return 0;
			}
			r->zin_len = (size_t) n;
		}
		r->z.next_in = (Bytef *) r->zin;
		r->z.avail_in = (uInt) r->zin_len;
		r->z.next_out = (Bytef *) r->zout;
		r->z.avail_out = LUXE_INFLATE_CHUNK;
		rc = inflate(&r->z, Z_NO_FLUSH);
		if (r->zin_len != r->z.avail_in)
			r->zmember = true;
		r->zin += r->zin_len - r->z.avail_in;
		r->zin_len = r->z.avail_in;
		if (rc == Z_STREAM_END)
		{
			r->zmember = false;
			/* another gzip member may follow */
			if (inflateReset(&r->z) != Z_OK)
				rc = Z_DATA_ERROR;
			else
				rc = Z_OK;
		}
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("could not decompress GCS object \"%s\"", luxe_gcs_object_uri(r->object)),
					 errdetail_internal("zlib: %s (after " INT64_FORMAT " stored bytes).",
										r->z.msg ? r->z.msg : "invalid data", r->offset)));
		if (LUXE_INFLATE_CHUNK - r->z.avail_out > 0)
		{
			*data = r->zout;
			return LUXE_INFLATE_CHUNK - r->z.avail_out;
		}
	}
}

/*
 * luxe_gcs_read
 *		Next bytes of the object's content (valid until the next call), from
 *		the offset the stream was opened at; 0 at the end.  Can throw.
 */
ssize_t
luxe_gcs_read(LuxeGcsReader *r, const char **data)
{
	for (;;)
	{
		ssize_t		n = read_content(r, data);

		if (n <= 0 || r->skip == 0)
			return n;
		if (n <= r->skip)
		{
			r->skip -= n;
			continue;
		}
		*data += r->skip;
		n -= r->skip;
		r->skip = 0;
		return n;
	}
}

void
luxe_gcs_close_stream(LuxeGcsReader *reader)
{
	if (reader->stream)
		luxe_http_stream_close(reader->stream);
	reader->stream = NULL;
}

/* ---------------------------------------------------------------------
 * Resumable uploads
 *
 * An upload is a resumable session: luxe_gcs_upload_begin opens it,
 * luxe_gcs_upload_write buffers bytes and sends them in chunks of
 * LUXE_GCS_UPLOAD_CHUNK (a multiple of the 256 KiB the protocol demands),
 * luxe_gcs_upload_finish sends the rest with the total size, which is the
 * moment the object appears, and luxe_gcs_upload_cancel deletes the
 * session so nothing appears.  A chunk that fails with a retryable status
 * or a broken connection is resumed from the offset the server reports
 * (a status query, "Content-Range: bytes * / *"), with the same backoff as
 * every other request, so no byte is sent twice into the object nor lost.
 * ---------------------------------------------------------------------
 */

#define LUXE_GCS_UPLOAD_CHUNK	(8 * 1024 * 1024)

struct LuxeGcsUpload
{
	LuxeGcsClient *client;
	char	   *bucket;
	char	   *name;
	char	   *session_uri;	/* a credential, says Google: never shown */
	StringInfoData buf;			/* bytes not yet persisted, from buf_offset */
	int64		buf_offset;		/* object offset of buf.data[0] */
	pg_crc32c	crc;			/* CRC32C of every byte written */
	bool		finished;
};

char *
luxe_gcs_upload_uri(const LuxeGcsUpload *upload)
{
	return psprintf("gs://%s/%s", upload->bucket, upload->name);
}

/*
 * luxe_gcs_upload_begin
 *		Open a resumable upload session for bucket/name.  With if_absent the
 *		object is created only if no live object has that name
 *		(ifGenerationMatch=0), so an upload never overwrites data.  The
 *		upload is palloc'd in the current memory context.  Can throw.
 */
LuxeGcsUpload *
luxe_gcs_upload_begin(LuxeGcsClient *client, const char *bucket,
					  const char *name, const char *content_type,
					  bool if_absent)
{
	LuxeGcsUpload *up = palloc0(sizeof(LuxeGcsUpload));
	char	   *url;
	char	   *body;
	List	   *headers;
	LuxeHttpResponse *resp;
	json_t	   *meta;
	const char *location;

	up->client = client;
	up->bucket = pstrdup(bucket);
	up->name = pstrdup(name);
	initStringInfo(&up->buf);
	INIT_CRC32C(up->crc);

	url = psprintf("%s/upload/storage/v1/b/%s/o?uploadType=resumable&name=%s%s",
				   client->google.endpoint, luxe_http_escape(bucket),
				   luxe_http_escape(name), if_absent ? "&ifGenerationMatch=0" : "");
	meta = json_pack("{s:s, s:s}", "name", name, "contentType", content_type);
	body = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
	json_decref(meta);
	if (body == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("GCS object name \"%s\" is not valid UTF-8", name)));
	headers = list_make2("Content-Type: application/json; charset=UTF-8",
						 psprintf("X-Upload-Content-Type: %s", content_type));
	/* starting a session has no side effect until bytes are committed */
	PG_TRY();
	{
		resp = luxe_google_call(&client->google, "POST", url, headers,
								body, strlen(body), true);
	}
	PG_FINALLY();
	{
		free(body);
	}
	PG_END_TRY();
	if (resp->status == 412)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("GCS object \"gs://%s/%s\" already exists", bucket, name),
				 errhint("Writes never replace an object: use a \"uri\" with a \"*\" wildcard, so that each INSERT adds a new object.")));
	if (resp->status == 404)
		report_gcs_error(resp->status, resp->body, "bucket", psprintf("gs://%s", bucket));
	if (resp->status != 200 && resp->status != 201)
		report_gcs_error(resp->status, resp->body, "object",
						 psprintf("gs://%s/%s", bucket, name));
	location = luxe_http_header(resp->headers, "location");
	if (location == NULL || location[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_FDW_REPLY_HANDLE),
				 errmsg("GCS did not return an upload session for \"gs://%s/%s\"", bucket, name)));
	/* the token goes with every chunk: only to the endpoint's host */
	{
		LuxeUrl		at;
		LuxeUrl		ep;

		if (luxe_http_parse_url(location, &at) != NULL ||
			luxe_http_parse_url(client->google.endpoint, &ep) != NULL ||
			strcmp(at.scheme, ep.scheme) != 0 || strcmp(at.host, ep.host) != 0 ||
			at.port != ep.port || at.has_userinfo)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_REPLY_HANDLE),
					 errmsg("GCS returned an upload session elsewhere than its endpoint for \"gs://%s/%s\"",
							bucket, name),
					 errdetail("Credentials are sent only to the server's endpoint.")));
	}
	up->session_uri = pstrdup(location);
	return up;
}

/*
 * Parse the "Range: bytes=0-N" of a 308 answer: the number of bytes the
 * session has persisted (0 without the header).
 */
static int64
persisted_bytes(LuxeHttpResponse *resp)
{
	const char *range = luxe_http_header(resp->headers, "range");
	const char *dash;

	if (range == NULL || (dash = strchr(range, '-')) == NULL)
		return 0;
	return strtoi64(dash + 1, NULL, 10) + 1;
}

/*
 * The server has persisted the object up to offset persisted: drop those
 * bytes from the buffer.  Returns how many were dropped.
 */
static size_t
upload_advance(LuxeGcsUpload *up, int64 persisted, int64 total)
{
	size_t		skip;

	if (persisted < up->buf_offset || persisted > total)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_REPLY_HANDLE),
				 errmsg("GCS reports " INT64_FORMAT " bytes persisted for \"%s\", outside the chunk sent",
						persisted, luxe_gcs_upload_uri(up))));
	skip = (size_t) (persisted - up->buf_offset);
	memmove(up->buf.data, up->buf.data + skip, up->buf.len - skip);
	up->buf.len -= skip;
	up->buf.data[up->buf.len] = '\0';
	up->buf_offset = persisted;
	return skip;
}

/*
 * Send buf[0 .. len) at buf_offset; final says it is the last piece, so the
 * total size is declared.  Returns the object resource (jansson) when the
 * upload completed, NULL otherwise.  Retries and resumes; can throw.
 */
static json_t *
upload_send(LuxeGcsUpload *up, size_t len, bool final)
{
	LuxeGcsClient *client = up->client;
	int			attempt = 0;
	bool		renewed = false;
	char	   *uri = luxe_gcs_upload_uri(up);

	for (;;)
	{
		LuxeHttpResponse *resp;
		char	   *transport_error;
		int64		total = up->buf_offset + (int64) len;
		char	   *range;
		List	   *headers = luxe_google_auth_headers(&client->google);

		if (len == 0)
			range = final ? psprintf("Content-Range: bytes */" INT64_FORMAT, total) :
				pstrdup("Content-Range: bytes */*");
		else
			range = psprintf("Content-Range: bytes " INT64_FORMAT "-" INT64_FORMAT "/%s",
							 up->buf_offset, total - 1,
							 final ? psprintf(INT64_FORMAT, total) : "*");
		headers = lappend(headers, range);
		headers = lappend(headers, "Content-Type: application/octet-stream");
		resp = luxe_http_request_once(&client->google.http, client->google.stats, "PUT", up->session_uri,
									  headers, up->buf.data, len, &transport_error);

		if (resp && (resp->status == 200 || resp->status == 201))
		{
			json_error_t jerr;
			json_t	   *root = json_loadb(resp->body, resp->body_len, 0, &jerr);

			if (!final)
			{
				json_decref(root);
				ereport(ERROR,
						(errcode(ERRCODE_FDW_REPLY_HANDLE),
						 errmsg("unexpected answer of GCS to the upload of \"%s\"", uri)));
			}
			if (root != NULL)
			{
				up->buf_offset = total;
				resetStringInfo(&up->buf);
				return root;
			}

			/*
			 * The object exists but its metadata came back garbled: asking
			 * the finished session again returns them (below, as a retry).
			 */
			transport_error = "the answer to the last chunk did not parse";
			resp = NULL;
		}
		if (resp && resp->status == 308 && !final)
		{
			/* keep what the server has not persisted (less than a quantum) */
			(void) upload_advance(up, persisted_bytes(resp), total);
			return NULL;
		}
		if (resp && !renewed && luxe_google_renew_token(&client->google, resp->status))
		{
			/* a refused token: the chunk was not taken; once more, renewed */
			renewed = true;
			continue;
		}
		if (resp && !luxe_http_status_retryable(resp->status) && resp->status != 308)
		{
			if (resp->status == 412)
				ereport(ERROR,
						(errcode(ERRCODE_UNIQUE_VIOLATION),
						 errmsg("GCS object \"%s\" already exists", uri),
						 errdetail("Another writer created it while this upload ran.")));
			report_gcs_error(resp->status, resp->body, "object", uri);
		}
		/* retryable status, a 308 short of the end, or a broken transfer */
		if (attempt >= client->google.http.max_retries)
		{
			if (resp == NULL)
				luxe_http_report_transport_error(&client->google.http, transport_error, attempt + 1);
			report_gcs_error(resp->status, resp->body, "object", uri);
		}
		client->google.stats->retries++;
		luxe_http_sleep(luxe_http_retry_delay_ms(&client->google.http, attempt,
												 resp && resp->status != 308 ?
												 luxe_http_header(resp->headers, "retry-after") : NULL));
		attempt++;

		/* ask how far the session got, then resend only the rest */
		if (resp == NULL || resp->status != 308)
		{
			resp = luxe_google_call(&client->google, "PUT", up->session_uri,
									list_make1("Content-Range: bytes */*"), NULL, 0, true);
			if (resp->status == 200 || resp->status == 201)
			{
				/* the final piece got through before the connection broke */
				json_error_t jerr;
				json_t	   *root = json_loadb(resp->body, resp->body_len, 0, &jerr);

				if (final && root)
				{
					up->buf_offset = total;
					resetStringInfo(&up->buf);
					return root;
				}
				if (root)
					json_decref(root);
			}
			if (resp->status != 308)
				report_gcs_error(resp->status, resp->body, "object", uri);
		}
		len -= upload_advance(up, persisted_bytes(resp), total);
		if (!final && len < 256 * 1024)
			return NULL;		/* the rest goes with the next chunk */
	}
}

/*
 * luxe_gcs_upload_write
 *		Append bytes to the object; full chunks are sent as they fill up.
 */
void
luxe_gcs_upload_write(LuxeGcsUpload *up, const char *data, size_t len)
{
	Assert(!up->finished);
	COMP_CRC32C(up->crc, data, len);
	appendBinaryStringInfo(&up->buf, data, len);
	while (up->buf.len >= LUXE_GCS_UPLOAD_CHUNK)
		(void) upload_send(up, LUXE_GCS_UPLOAD_CHUNK, false);
}

/*
 * luxe_gcs_upload_finish
 *		Send the rest and commit the object; checks the CRC32C GCS computed
 *		against the bytes written (a mismatch deletes the new object and is
 *		an error).  Returns the object.  Can throw.
 */
LuxeGcsObject *
luxe_gcs_upload_finish(LuxeGcsUpload *up)
{
	json_t	   *root = NULL;
	LuxeGcsObject *object;
	char	   *b64;

	while (root == NULL)
		root = upload_send(up, up->buf.len, true);
	up->finished = true;
	PG_TRY();
	{
		object = object_from_json(up->bucket, root);
	}
	PG_FINALLY();
	{
		json_decref(root);
	}
	PG_END_TRY();
	/* what is deleted on a mismatch is the object this upload wrote */
	if (strcmp(object->name, up->name) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_REPLY_HANDLE),
				 errmsg("GCS finished the upload of \"%s\" as another object, \"%s\"",
						luxe_gcs_upload_uri(up), object->name)));

	b64 = crc32c_base64(up->crc);
	if (object->crc32c && strcmp(object->crc32c, b64) != 0)
	{
		luxe_gcs_delete_object(up->client, object);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("checksum mismatch in the upload of \"%s\"", luxe_gcs_upload_uri(up)),
				 errdetail("GCS stored crc32c %s, the bytes sent have %s; the object was deleted.",
						   object->crc32c, b64)));
	}
	return object;
}

/*
 * luxe_gcs_upload_cancel
 *		Abandon an unfinished upload: DELETE the session, so the object never
 *		appears.  Never throws (it runs during abort); a failure only leaves
 *		a session that GCS expires after a week, with nothing visible.
 */
void
luxe_gcs_upload_cancel(LuxeGcsUpload *up)
{
	if (up->finished || up->session_uri == NULL)
		return;
	up->finished = true;
	luxe_google_call_quietly(&up->client->google, "DELETE", up->session_uri, NIL);
}

/*
 * luxe_gcs_delete_object
 *		Delete one generation of an object (used to take back an object that
 *		was committed by a transaction that then failed).  Can throw.
 */
void
luxe_gcs_delete_object(LuxeGcsClient *client, const LuxeGcsObject *object)
{
	char	   *url = psprintf("%s/storage/v1/b/%s/o/%s?generation=" INT64_FORMAT,
							   client->google.endpoint, luxe_http_escape(object->bucket),
							   luxe_http_escape(object->name), object->generation);
	LuxeHttpResponse *resp = luxe_google_call(&client->google, "DELETE", url, NIL,
											  NULL, 0, true);

	if (resp->status != 204 && resp->status != 200 && resp->status != 404)
		report_gcs_error(resp->status, resp->body, "object", luxe_gcs_object_uri(object));
}
