/*-------------------------------------------------------------------------
 *
 * google.h
 *		  The authenticated call to a Google API, shared by the GCS and
 *		  BigQuery clients: credentials, the one token renewal on 401,
 *		  Google's error body, and the single mapping of an HTTP status and
 *		  error reason to a SQLSTATE.
 *
 * This header does not include jansson.h (it declares json_t only as an
 * incomplete struct), so it may be included where utils/builtins.h is.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/google.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LUXE_GOOGLE_H
#define LUXE_GOOGLE_H

#include "http.h"
#include "option.h"

/*
 * One Google API as one user sees it: where to send requests, how to
 * retry, whose credentials, and the counters EXPLAIN ANALYZE shows.
 */
typedef struct LuxeGoogleClient
{
	LuxeHttpConfig http;		/* http.service_name names the API */
	LuxeHttpStats *stats;		/* owned by the caller */
	char	   *endpoint;		/* base URL, no trailing slash */
	const LuxeAuthOptions *auth;	/* secrets: never printed */
} LuxeGoogleClient;

/* Google's error, from an error body or a job's errorResult. */
typedef struct LuxeGoogleError
{
	long		status;			/* HTTP status; 0 for a job's error */
	char	   *message;		/* never NULL after parsing */
	char	   *reason;			/* e.g. "notFound"; may be NULL */
	char	   *location;		/* e.g. a column or "query"; may be NULL */
} LuxeGoogleError;

struct json_t;

/* in google.c */
extern void luxe_google_client_init(LuxeGoogleClient *client, LuxeHttpStats *stats,
									const LuxeServerOptions *server,
									const char *api, const char *endpoint,
									Oid serverid, Oid userid);
extern List *luxe_google_auth_headers(LuxeGoogleClient *client);
extern bool luxe_google_renew_token(LuxeGoogleClient *client, long status);
extern LuxeHttpResponse *luxe_google_call(LuxeGoogleClient *client, const char *method,
										  const char *url, List *headers,
										  const char *body, size_t body_len,
										  bool idempotent);
extern LuxeHttpResponse *luxe_google_call_quietly(LuxeGoogleClient *client,
												  const char *method,
												  const char *url, List *headers);
extern void luxe_google_parse_error(long status, const char *body, size_t body_len,
									LuxeGoogleError *error);
extern void luxe_google_error_from_json(long status, struct json_t *error,
										LuxeGoogleError *result);
extern int	luxe_google_sqlstate(long status, const char *reason);
extern bool luxe_google_reason_retryable(const char *reason);

#endif							/* LUXE_GOOGLE_H */
