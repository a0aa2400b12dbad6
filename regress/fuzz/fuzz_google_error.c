/*-------------------------------------------------------------------------
 *
 * fuzz_google_error.c
 *		  libFuzzer target: Google's error bodies (google.c).
 *
 * Input: "HTTP <status>\n" (optional; 400 without it) then a response
 * body, as an API or a proxy in front of it would send it.  The body goes
 * to luxe_google_parse_error; if it is JSON, its "error" member and the
 * document itself also go to luxe_google_error_from_json (the path of a
 * BigQuery job's errorResult), and luxe_google_sqlstate maps the result.
 *
 * Invariants: never an ERROR (the parser tolerates anything); the message
 * is set, non-empty, at most about LUXE_HTTP_EXCERPT bytes, valid UTF-8
 * without control characters (it goes into an errdetail); so are reason
 * and location when set; the SQLSTATE is one of the classes the mapping
 * table lists.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  regress/fuzz/fuzz_google_error.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <jansson.h>

#include "fuzz_common.h"
#include "google.h"

/* the excerpt limit of http.c, plus one character and "..." */
#define MAX_MESSAGE (200 + 4 + 3)

static bool
valid_utf8_text(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;

	while (*p)
	{
		int			n;
		int			i;

		if (*p < 0x20 || *p == 0x7f)
			return false;
		if (*p < 0x80)
		{
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0)
			n = 2;
		else if ((*p & 0xf0) == 0xe0)
			n = 3;
		else if ((*p & 0xf8) == 0xf0)
			n = 4;
		else
			return false;
		for (i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return false;
		p += n;
	}
	return true;
}

static void
check_error(const LuxeGoogleError *e, long status, const char *what)
{
	int			sqlstate;
	static const int allowed[] = {
		ERRCODE_FDW_TABLE_NOT_FOUND, ERRCODE_DUPLICATE_OBJECT,
		ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION, ERRCODE_INSUFFICIENT_PRIVILEGE,
		ERRCODE_CONFIGURATION_LIMIT_EXCEEDED, ERRCODE_FDW_UNABLE_TO_CREATE_EXECUTION,
		ERRCODE_QUERY_CANCELED, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
		ERRCODE_CONNECTION_FAILURE, ERRCODE_FDW_ERROR
	};
	int			i;

	if (e->status != status)
		fuzz_fail("%s: status %ld became %ld", what, status, e->status);
	if (e->message == NULL || e->message[0] == '\0')
		fuzz_fail("%s: empty message", what);
	if (strlen(e->message) > MAX_MESSAGE)
		fuzz_fail("%s: message of %zu bytes", what, strlen(e->message));
	if (!valid_utf8_text(e->message))
		fuzz_fail("%s: message is not printable UTF-8: \"%s\"", what, e->message);
	/* reason and location reach messages too: bounded and printable */
	if (e->reason && (strlen(e->reason) > MAX_MESSAGE || !valid_utf8_text(e->reason)))
		fuzz_fail("%s: reason is not a printable excerpt: \"%s\"", what, e->reason);
	if (e->location && (strlen(e->location) > MAX_MESSAGE || !valid_utf8_text(e->location)))
		fuzz_fail("%s: location is not a printable excerpt: \"%s\"", what, e->location);
	sqlstate = luxe_google_sqlstate(status, e->reason);
	for (i = 0; i < lengthof(allowed); i++)
		if (sqlstate == allowed[i])
			break;
	if (i == lengthof(allowed))
		fuzz_fail("%s: unexpected SQLSTATE %s", what, unpack_sql_state(sqlstate));
	(void) luxe_google_reason_retryable(e->reason);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *) data;
	size_t		len = size;
	long		status = 400;
	LuxeGoogleError e;

	fuzz_input_begin();
	if (len >= 5 && memcmp(body, "HTTP ", 5) == 0)
	{
		const char *nl = memchr(body, '\n', len);
		size_t		n = nl ? (size_t) (nl - body) : len;

		status = strtol(pnstrdup(body + 5, n - 5), NULL, 10);
		body = nl ? nl + 1 : body + len;
		len = size - (body - (const char *) data);
	}

	PG_TRY();
	{
		json_error_t jerr;
		json_t	   *root;

		luxe_google_parse_error(status, body, len, &e);
		check_error(&e, status, "luxe_google_parse_error");
		/* also without a body, as for a HEAD or an empty 5xx */
		luxe_google_parse_error(status, NULL, 0, &e);
		check_error(&e, status, "luxe_google_parse_error(NULL)");

		root = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
		if (root)
		{
			luxe_google_error_from_json(0, root, &e);
			check_error(&e, 0, "luxe_google_error_from_json(document)");
			luxe_google_error_from_json(status, json_object_get(root, "error"), &e);
			check_error(&e, status, "luxe_google_error_from_json(error)");
			json_decref(root);
		}
	}
	PG_CATCH();
	{
		fuzz_fail("Google error parsing threw: %s",
				  fuzz_error_string(fuzz_error_current()));
	}
	PG_END_TRY();
	fuzz_input_end();
	return 0;
}
