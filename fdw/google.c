/*-------------------------------------------------------------------------
 *
 * google.c
 *		  The authenticated call to a Google API, shared by the GCS and
 *		  BigQuery REST clients.
 *
 * Design assumptions and invariants:
 * - A client is one API (GCS or BigQuery) for one user mapping.  Its
 *   credentials are resolved when the client is made and turned into an
 *   Authorization header for every request (auth.c caches tokens); the
 *   header goes to http.c and nowhere else.
 * - Every API call is made through luxe_google_call: transport retries
 *   (408, 429, 5xx, broken connections) happen in http.c; here a 401 drops
 *   a cached OAuth2 token and the same request, body included, is sent once
 *   more with a fresh one (tokens can be revoked before they expire), and a
 *   403 whose reason is a short-term rate limit is retried with backoff, as
 *   Google documents for both APIs.  Streams and resumable uploads, which
 *   drive their own loops, use luxe_google_renew_token for the same rule.
 * - Google's error body ({"error": {"code", "message", "errors": [{"reason",
 *   "location", "message"}]}}) is parsed here only, and tolerated when it is
 *   not JSON (proxies, emulators): then a bounded, sanitised excerpt of the
 *   body stands in for the message.
 * - luxe_google_sqlstate is the only mapping from an HTTP status and a
 *   Google error reason to a SQLSTATE; the reason wins over the status,
 *   because Google sends quota, rate-limit and permission errors all as
 *   HTTP 403.
 * - This file uses jansson and must not include utils/builtins.h.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/google.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <jansson.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"

#include "auth.h"
#include "google.h"

/*
 * luxe_google_client_init
 *		Make a client of one API (api names it in messages: "GCS",
 *		"BigQuery") at endpoint, with the server's transport settings and the
 *		user's credentials.  Palloc'd in the current memory context; can
 *		throw (a missing user mapping, invalid mapping options).
 */
void
luxe_google_client_init(LuxeGoogleClient *client, LuxeHttpStats *stats,
						const LuxeServerOptions *server, const char *api,
						const char *endpoint, Oid serverid, Oid userid)
{
	LuxeAuthOptions *auth = palloc(sizeof(LuxeAuthOptions));

	luxe_option_auth(server, serverid, userid, auth);

	/*
	 * The endpoint is judged for the server's owner, who chose it (the
	 * owner may have changed since the option was validated); one from
	 * the administrator's environment is trusted.
	 */
	luxe_http_check_destination(endpoint, psprintf("the endpoint of server \"%s\"", server->servername),
								server->endpoint_from_env ? InvalidOid : server->owner,
								auth->mode != LUXE_AUTH_NONE);
	memset(client, 0, sizeof(*client));
	luxe_option_http_config(server, &client->http);
	client->http.service_name = api;
	client->stats = stats;
	client->endpoint = pstrdup(endpoint);
	client->auth = auth;
}

/*
 * luxe_google_auth_headers
 *		A fresh List holding the Authorization header, or NIL for anonymous
 *		access.  Fetches or renews a token when needed.  The header is a
 *		secret.  Can throw.
 */
List *
luxe_google_auth_headers(LuxeGoogleClient *client)
{
	char	   *header = luxe_auth_get_header(client->auth, client->endpoint,
											  &client->http, client->stats);

	return header ? list_make1(header) : NIL;
}

/*
 * luxe_google_renew_token
 *		After an answer with this status: true when it is a 401 for a
 *		credential that can be renewed (a service account or the metadata
 *		server), whose cached token has now been dropped, so the caller
 *		should send the request once more.  A static token cannot be renewed.
 */
bool
luxe_google_renew_token(LuxeGoogleClient *client, long status)
{
	if (status != 401)
		return false;
	if (client->auth->mode != LUXE_AUTH_SERVICE_ACCOUNT &&
		client->auth->mode != LUXE_AUTH_METADATA)
		return false;
	luxe_auth_forget(client->auth);
	return true;
}

/*
 * luxe_google_reason_retryable
 *		Google error reasons that mean "slow down and try again": the
 *		short-term rate limits.  quotaExceeded is a longer-term limit and is
 *		not retried.
 */
bool
luxe_google_reason_retryable(const char *reason)
{
	return reason != NULL &&
		(strcmp(reason, "rateLimitExceeded") == 0 ||
		 strcmp(reason, "userRateLimitExceeded") == 0);
}

/*
 * luxe_google_call
 *		One API call with the client's credentials and the extra headers;
 *		returns the last response, palloc'd in the current context, whatever
 *		its status (the caller reports Google's error).  A 401 renews the
 *		token once and resends the same request; a 403 rate limit is retried
 *		with backoff when the request is idempotent.  Can throw (transport
 *		failure after the retries, interrupts).
 */
LuxeHttpResponse *
luxe_google_call(LuxeGoogleClient *client, const char *method, const char *url,
				 List *headers, const char *body, size_t body_len,
				 bool idempotent)
{
	bool		renewed = false;
	int			attempt = 0;

	for (;;)
	{
		List	   *all = list_concat(luxe_google_auth_headers(client), headers);
		LuxeHttpResponse *resp;

		resp = luxe_http_request(&client->http, client->stats, method, url, all,
								 body, body_len, idempotent);
		if (!renewed && luxe_google_renew_token(client, resp->status))
		{
			elog(DEBUG1, "luxe_fdw: %s refused the token, renewing it", client->http.service_name);
			renewed = true;
			continue;
		}
		if (resp->status == 403 && idempotent && attempt < client->http.max_retries)
		{
			LuxeGoogleError error;

			luxe_google_parse_error(resp->status, resp->body, resp->body_len, &error);
			if (luxe_google_reason_retryable(error.reason))
			{
				client->stats->retries++;
				luxe_http_sleep(luxe_http_retry_delay_ms(&client->http, attempt,
														 luxe_http_header(resp->headers, "retry-after")));
				attempt++;
				continue;
			}
		}
		return resp;
	}
}

typedef struct QuietCall
{
	LuxeGoogleClient *client;
	const char *method;
	const char *url;
	List	   *headers;
	LuxeHttpResponse *resp;
} QuietCall;

static void
quiet_call(void *arg)
{
	QuietCall  *q = (QuietCall *) arg;
	bool		usable;
	char	   *auth = luxe_auth_cached_header(q->client->auth, &usable);

	if (!usable)
		return;					/* no token without a request for one */
	q->resp = luxe_http_request_brief(&q->client->http, q->client->stats,
									  q->method, q->url,
									  auth ? lcons(auth, list_copy(q->headers)) : q->headers,
									  NULL, 0);
}

/*
 * luxe_google_call_quietly
 *		A brief, best-effort call for teardown (cancel a job, delete an
 *		upload session), safe during abort with interrupts held: no retry,
 *		short timeouts, a cached token or none (never a token request), and
 *		it never throws (see luxe_http_quietly).  Returns the response, or
 *		NULL when nothing came back.
 */
LuxeHttpResponse *
luxe_google_call_quietly(LuxeGoogleClient *client, const char *method,
						 const char *url, List *headers)
{
	QuietCall	q;

	q.client = client;
	q.method = method;
	q.url = url;
	q.headers = headers;
	q.resp = NULL;
	if (!luxe_http_quietly(quiet_call, &q))
		return NULL;
	return q.resp;
}

static char *
json_str(json_t *obj, const char *key)
{
	json_t	   *v = json_object_get(obj, key);

	return json_is_string(v) ? pstrdup(json_string_value(v)) : NULL;
}

/*
 * luxe_google_error_from_json
 *		Fill *result from an error object: the "error" member of an error
 *		body ({"message", "errors": [{"reason", "location", ...}]}), or an
 *		ErrorProto such as a job's errorResult ({"reason", "location",
 *		"message"}), or an object with only "errors".  The message is never
 *		NULL afterwards.  Results are palloc'd.
 */
void
luxe_google_error_from_json(long status, json_t *error, LuxeGoogleError *result)
{
	json_t	   *errors;

	memset(result, 0, sizeof(*result));
	result->status = status;
	if (json_is_object(error))
	{
		result->message = json_str(error, "message");
		result->reason = json_str(error, "reason");
		result->location = json_str(error, "location");
		errors = json_object_get(error, "errors");
		if (json_is_array(errors) && json_array_size(errors) > 0)
		{
			json_t	   *first = json_array_get(errors, 0);

			if (result->reason == NULL)
				result->reason = json_str(first, "reason");
			if (result->location == NULL)
				result->location = json_str(first, "location");
			if (result->message == NULL)
				result->message = json_str(first, "message");
		}
	}
	/* all of it is remote text that reaches messages: bounded, sanitised */
	if (result->message != NULL)
		result->message = luxe_http_excerpt(result->message, strlen(result->message));
	if (result->reason != NULL)
		result->reason = luxe_http_excerpt(result->reason, strlen(result->reason));
	if (result->location != NULL)
		result->location = luxe_http_excerpt(result->location, strlen(result->location));
	if (result->message == NULL || result->message[0] == '\0')
		result->message = pstrdup("no message");
}

/*
 * luxe_google_parse_error
 *		Google's error from a response body; a body that is not Google's
 *		JSON leaves the reason NULL and a sanitised excerpt as the message.
 *		Results are palloc'd; never throws for a malformed body.
 */
void
luxe_google_parse_error(long status, const char *body, size_t body_len,
						LuxeGoogleError *error)
{
	json_error_t jerr;
	json_t	   *root = NULL;

	if (body != NULL && body_len > 0)
		root = json_loadb(body, body_len, 0, &jerr);
	if (root && json_is_object(json_object_get(root, "error")))
		luxe_google_error_from_json(status, json_object_get(root, "error"), error);
	else
	{
		luxe_google_error_from_json(status, NULL, error);
		if (body != NULL && body_len > 0)
		{
			char	   *text = luxe_http_excerpt(body, body_len);

			if (text[0] != '\0')
				error->message = text;
		}
	}
	if (root)
		json_decref(root);
}

/*
 * luxe_google_sqlstate
 *		The SQLSTATE of a Google error.  The reason decides when there is
 *		one, else the HTTP status:
 *
 *	  reason                                 status        SQLSTATE
 *	  ------------------------------------   -----------   -------------------------------
 *	  notFound                               404           HV00R fdw_table_not_found
 *	  duplicate, conflict                    409           42710 duplicate_object
 *	  required, authError                    401           HV00N fdw_unable_to_establish_connection
 *	  forbidden, accessDenied,
 *	    insufficientPermissions               403 (other)   42501 insufficient_privilege
 *	  rateLimitExceeded, userRateLimitExceeded,
 *	    quotaExceeded, bytesBilledLimitExceeded 429          53400 configuration_limit_exceeded
 *	  invalidQuery, invalid, badRequest      400           HV00L fdw_unable_to_create_execution
 *	  stopped                                -             57014 query_canceled
 *	  responseTooLarge                       -             54000 program_limit_exceeded
 *	  backendError, internalError            408, 5xx      08006 connection_failure
 *	  conditionNotMet                        412           HV000 fdw_error
 *	  (anything else)                        (other)       HV000 fdw_error
 *
 * Callers may use a more specific code where the context says more (an
 * object that already exists is a unique_violation).
 */
int
luxe_google_sqlstate(long status, const char *reason)
{
	static const struct
	{
		const char *reason;
		int			sqlstate;
	}			by_reason[] =
	{
		{"notFound", ERRCODE_FDW_TABLE_NOT_FOUND},
		{"duplicate", ERRCODE_DUPLICATE_OBJECT},
		{"conflict", ERRCODE_DUPLICATE_OBJECT},
		{"required", ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION},
		{"authError", ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION},
		{"forbidden", ERRCODE_INSUFFICIENT_PRIVILEGE},
		{"accessDenied", ERRCODE_INSUFFICIENT_PRIVILEGE},
		{"insufficientPermissions", ERRCODE_INSUFFICIENT_PRIVILEGE},
		{"rateLimitExceeded", ERRCODE_CONFIGURATION_LIMIT_EXCEEDED},
		{"userRateLimitExceeded", ERRCODE_CONFIGURATION_LIMIT_EXCEEDED},
		{"quotaExceeded", ERRCODE_CONFIGURATION_LIMIT_EXCEEDED},
		{"bytesBilledLimitExceeded", ERRCODE_CONFIGURATION_LIMIT_EXCEEDED},
		{"invalidQuery", ERRCODE_FDW_UNABLE_TO_CREATE_EXECUTION},
		{"invalid", ERRCODE_FDW_UNABLE_TO_CREATE_EXECUTION},
		{"badRequest", ERRCODE_FDW_UNABLE_TO_CREATE_EXECUTION},
		{"stopped", ERRCODE_QUERY_CANCELED},
		{"responseTooLarge", ERRCODE_PROGRAM_LIMIT_EXCEEDED},
		{"backendError", ERRCODE_CONNECTION_FAILURE},
		{"internalError", ERRCODE_CONNECTION_FAILURE},
		{"conditionNotMet", ERRCODE_FDW_ERROR},
	};
	int			i;

	if (reason != NULL)
	{
		for (i = 0; i < lengthof(by_reason); i++)
			if (strcmp(reason, by_reason[i].reason) == 0)
				return by_reason[i].sqlstate;
	}
	switch (status)
	{
		case 400:
			return ERRCODE_FDW_UNABLE_TO_CREATE_EXECUTION;
		case 401:
			return ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION;
		case 403:
			return ERRCODE_INSUFFICIENT_PRIVILEGE;
		case 404:
			return ERRCODE_FDW_TABLE_NOT_FOUND;
		case 409:
			return ERRCODE_DUPLICATE_OBJECT;
		case 429:
			return ERRCODE_CONFIGURATION_LIMIT_EXCEEDED;
		case 408:
			return ERRCODE_CONNECTION_FAILURE;
		default:
			if (status >= 500)
				return ERRCODE_CONNECTION_FAILURE;
			return ERRCODE_FDW_ERROR;
	}
}
