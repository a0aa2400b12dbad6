/*-------------------------------------------------------------------------
 *
 * fuzz_gcs.c
 *		  libFuzzer target: the GCS JSON API client (gcs.c) on scripted
 *		  responses: object metadata, listings over pages, generation-pinned
 *		  (gzip) downloads with resumption, resumable uploads.
 *
 * Input: a control line, then a response script (see fake_http.c).  Words
 * of the control line:
 *	  uri=gs://...       what to list (default gs://fuzz-bucket/data/part-*.csv;
 *						 without '*' it is one object's metadata; a comma-
 *						 separated list is every part's objects; a value
 *						 option.c would refuse is replaced by the default)
 *	  missing_ok         luxe_gcs_list_uri's missing_ok
 *	  read               then download up to 3 of the objects listed
 *	  offset=N           ... from content byte N (a resumed scan)
 *	  upload             a resumable upload instead (bytes=N written,
 *						 if_absent for ifGenerationMatch=0)
 *	  auth=none|token|metadata   the user mapping (default token)
 *	  endpoint=URL       the server's endpoint (default Google's)
 *
 * Invariants: an ERROR has an errcode (not XX000) and shows no secret;
 * every object listed has a bucket and a name (gcs_scan.c hands it to
 * luxe_gcs_open_stream, which takes strlen of the name); a wildcard or
 * list listing is sorted by name and every name ends with the suffix of a
 * wildcard of the list (unless the list names a single object); a download returns n > 0 bytes with data, then 0 for good;
 * credentials go over https (or to loopback) and only to the endpoint; a
 * failed upload is cancelled without an ERROR, as at transaction abort.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  regress/fuzz/fuzz_gcs.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "auth.h"
#include "fuzz_common.h"
#include "gcs.h"

/* the token is a secret unless the input itself holds it (a server echo) */
static const char *secrets[] = {SECRET_TOKEN, NULL};
static const char *no_secrets[] = {NULL};

/*
 * The suffix a listed name must end with for one part of the uri option
 * (a URI, or a comma-separated list of them): what follows its '*', or
 * NULL for a single object, whose metadata names it.
 */
static const char *
part_suffix(const char *part)
{
	const char *slash = strlen(part) > 5 ? strchr(part + 5, '/') : NULL;
	const char *star = slash ? strchr(slash + 1, '*') : NULL;

	return star ? star + 1 : NULL;
}

static void
check_listing(List *objects, const char *uri)
{
	List	   *suffixes = NIL;
	bool		any_single = false;
	const char *prev = NULL;
	ListCell   *lc;
	char	   *copy = pstrdup(uri);
	char	   *save = NULL;
	char	   *part;

	for (part = strtok_r(copy, ",", &save); part; part = strtok_r(NULL, ",", &save))
	{
		const char *suffix;

		while (*part == ' ')
			part++;
		suffix = part_suffix(part);
		if (suffix)
			suffixes = lappend(suffixes, (void *) suffix);
		else
			any_single = true;
	}

	foreach(lc, objects)
	{
		LuxeGcsObject *o = lfirst(lc);
		ListCell   *sc;
		bool		matched = any_single;
		size_t		n;

		if (o == NULL || o->bucket == NULL)
			fuzz_fail("an object without a bucket in the listing of %s", uri);
		if (o->name == NULL)
		{
			/* known bug 5: metadata without "name" gives a NULL name */
			if (fuzz_tolerate_known && any_single)
				continue;
			fuzz_fail("an object without a name in the listing of %s", uri);
		}
		(void) luxe_gcs_object_uri(o);
		n = strlen(o->name);
		foreach(sc, suffixes)
		{
			const char *suffix = lfirst(sc);

			if (n >= strlen(suffix) && strcmp(o->name + n - strlen(suffix), suffix) == 0)
				matched = true;
		}
		if (!matched)
			fuzz_fail("\"%s\" does not match %s", o->name, uri);
		/* a wildcard's or a list's objects come in name order */
		if ((suffixes != NIL || strchr(uri, ',')) && prev && strcmp(prev, o->name) > 0)
			fuzz_fail("listing not in name order: \"%s\" before \"%s\"", prev, o->name);
		prev = o->name;
	}
}

/* as option.c validates it: every part of the list starts with gs:// */
static bool
valid_uri_option(const char *uri)
{
	char	   *copy = pstrdup(uri);
	char	   *save = NULL;
	char	   *part;
	bool		any = false;

	for (part = strtok_r(copy, ",", &save); part; part = strtok_r(NULL, ",", &save))
	{
		while (*part == ' ')
			part++;
		if (strncmp(part, "gs://", 5) != 0 || strchr(part + 5, '/') == NULL)
			return false;
		any = true;
	}
	return any;
}

static void
read_objects(LuxeGcsClient *client, List *objects, int64 offset)
{
	ListCell   *lc;
	int			k = 0;

	foreach(lc, objects)
	{
		LuxeGcsObject *o = lfirst(lc);
		LuxeGcsReader *r;
		size_t		total = 0;
		ssize_t		n;
		const char *data;

		if (k++ == 3)
			break;
		if (o->name == NULL)
			continue;			/* tolerated above */
		r = luxe_gcs_open_stream(client, o, offset);
		while ((n = luxe_gcs_read(r, &data)) != 0)
		{
			if (n < 0 || data == NULL)
				fuzz_fail("luxe_gcs_read returned %zd", n);
			/* the first and last bytes must be readable */
			(void) ((const volatile char *) data)[0];
			(void) ((const volatile char *) data)[n - 1];
			total += n;
			if (total > (16 << 20))
				break;			/* a gzip bomb: enough */
		}
		if (n == 0 && luxe_gcs_read(r, &data) != 0)
			fuzz_fail("luxe_gcs_read returned bytes after the end");
		luxe_gcs_close_stream(r);
	}
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *control;
	const char *script;
	const char *uri;
	const char *endpoint;
	const char *v;
	LuxeServerOptions server;
	LuxeHttpStats stats = {0};
	LuxeGcsClient client;
	MemoryContext cxt;
	const char *const *input_secrets = secrets;
	LuxeGcsUpload *volatile up = NULL;

	cxt = fuzz_input_begin();
	if (fuzz_memcasemem(data, size, SECRET_TOKEN))
		input_secrets = no_secrets;
	script = fuzz_split_control((const char *) data, size, &control);
	fuzz_http_script(script, size - (script - (const char *) data));
	uri = fuzz_word_value(control, "uri");
	/* the option validator lets only gs://bucket/object parts through */
	if (uri && !valid_uri_option(uri))
		uri = NULL;
	if (uri == NULL)
		uri = "gs://fuzz-bucket/data/part-*.csv";
	endpoint = fuzz_word_value(control, "endpoint");
	if (endpoint == NULL)
		endpoint = "https://storage.googleapis.com";
	fuzz_user_mapping(control);
	fuzz_server_options(&server, LUXE_SERVICE_GCS, endpoint);
	fuzz_http_set_endpoint(endpoint);

	PG_TRY();
	{
		luxe_gcs_client_init(&client, &stats, &server, InvalidOid, InvalidOid);
		if (fuzz_has_word(control, "upload"))
		{
			char	   *bucket;
			char	   *name;
			int			bytes = 1000;
			LuxeGcsObject *o;
			char		block[4096];
			int			i;

			v = fuzz_word_value(control, "bytes");
			if (v)
				bytes = Min(Max(atoi(v), 0), 1 << 20);
			for (i = 0; i < (int) sizeof(block); i++)
				block[i] = 'a' + i % 26;
			luxe_gcs_parse_uri(strchr(uri, '*') ? "gs://fuzz-bucket/exports/part-1.csv" : uri,
							   &bucket, &name);
			/* known bug 6: a name that is not UTF-8 crashes upload_begin */
			if (fuzz_tolerate_known && (!fuzz_valid_utf8(name) || !fuzz_valid_utf8(bucket)))
				elog(ERROR, "fuzz: tolerated known bug 6");
			up = luxe_gcs_upload_begin(&client, bucket, name, "text/csv",
									   fuzz_has_word(control, "if_absent"));
			for (i = 0; i < bytes; i += sizeof(block))
				luxe_gcs_upload_write(up, block, Min((int) sizeof(block), bytes - i));
			o = luxe_gcs_upload_finish(up);
			if (o == NULL || o->bucket == NULL)
				fuzz_fail("luxe_gcs_upload_finish returned no object");
			(void) luxe_gcs_upload_uri(up);
		}
		else
		{
			List	   *objects = luxe_gcs_list_uri(&client, uri,
													fuzz_has_word(control, "missing_ok"));

			check_listing(objects, uri);
			if (fuzz_has_word(control, "read"))
			{
				int64		offset = 0;

				v = fuzz_word_value(control, "offset");
				if (v)
					offset = Max(strtoll(v, NULL, 10), 0);
				read_objects(&client, objects, offset);
			}
		}
	}
	PG_CATCH();
	{
		const FuzzErrorData *e = fuzz_error_current();

		MemoryContextSwitchTo(cxt);
		fuzz_check_error(e, input_secrets);
		FlushErrorState();
		if (up != NULL)
		{
			/* the transaction aborts: the session is deleted, quietly */
			PG_TRY();
			{
				luxe_gcs_upload_cancel(up);
			}
			PG_CATCH();
			{
				fuzz_fail("luxe_gcs_upload_cancel threw: %s",
						  fuzz_error_string(fuzz_error_current()));
			}
			PG_END_TRY();
		}
	}
	PG_END_TRY();
	fuzz_http_check_credentials(input_secrets);
	fuzz_input_end();
	return 0;
}
