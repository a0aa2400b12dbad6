/*-------------------------------------------------------------------------
 *
 * http.h
 *		  libcurl transport of luxe_fdw: buffered requests with retries,
 *		  and interruptible streaming downloads.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/http.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LUXE_HTTP_H
#define LUXE_HTTP_H

#include "nodes/pg_list.h"

typedef struct LuxeHttpConfig
{
	int			max_retries;
	int			retry_max_delay_ms;
	int			retry_initial_delay_ms;
	int			connect_timeout_ms;
	int			request_timeout_ms;
	const char *service_name;	/* "GCS" or "BigQuery", for messages */
} LuxeHttpConfig;

/* Counters shown by EXPLAIN ANALYZE; owned by the caller. */
typedef struct LuxeHttpStats
{
	int64		requests;
	int64		retries;
	int64		bytes;			/* body bytes of streamed downloads */
} LuxeHttpStats;

/* A complete response; all fields palloc'd in the caller's context. */
typedef struct LuxeHttpResponse
{
	long		status;
	char	   *body;			/* NUL-terminated */
	size_t		body_len;
	char	   *headers;		/* "name: value\n" lines, names lower case */
} LuxeHttpResponse;

typedef struct LuxeHttpStream LuxeHttpStream;

/* body bytes a stream holds before its transfer pauses */
#define LUXE_HTTP_STREAM_BUFFER		(512 * 1024)

/* in http.c */
extern void luxe_http_init(void);
extern LuxeHttpResponse *luxe_http_request(const LuxeHttpConfig *cfg,
										   LuxeHttpStats *stats,
										   const char *method,
										   const char *url,
										   List *headers,
										   const char *body, size_t body_len,
										   bool idempotent);
extern LuxeHttpResponse *luxe_http_request_once(const LuxeHttpConfig *cfg,
												LuxeHttpStats *stats,
												const char *method,
												const char *url,
												List *headers,
												const char *body, size_t body_len,
												char **transport_error);
extern bool luxe_http_quietly(void (*fn) (void *arg), void *arg);
extern LuxeHttpResponse *luxe_http_request_brief(const LuxeHttpConfig *cfg,
												 LuxeHttpStats *stats,
												 const char *method,
												 const char *url, List *headers,
												 const char *body, size_t body_len);
extern void luxe_http_report_transport_error(const LuxeHttpConfig *cfg,
											 const char *transport_error,
											 int attempts) pg_attribute_noreturn();
extern LuxeHttpStream *luxe_http_stream_start(const LuxeHttpConfig *cfg,
											  LuxeHttpStats *stats,
											  const char *url, List *headers);
extern void luxe_http_stream_wait(LuxeHttpStream *stream);
extern LuxeHttpStream *luxe_http_stream_open(const LuxeHttpConfig *cfg,
											 LuxeHttpStats *stats,
											 const char *url, List *headers);
extern long luxe_http_stream_status(LuxeHttpStream *stream);
extern const char *luxe_http_stream_header(LuxeHttpStream *stream,
										   const char *name);
extern const char *luxe_http_stream_error_body(LuxeHttpStream *stream);
extern ssize_t luxe_http_stream_read(LuxeHttpStream *stream, const char **data);
extern const char *luxe_http_stream_transport_error(LuxeHttpStream *stream);
extern void luxe_http_stream_close(LuxeHttpStream *stream);
extern const char *luxe_http_header(const char *headers, const char *name);
extern bool luxe_http_status_retryable(long status);
extern int	luxe_http_retry_delay_ms(const LuxeHttpConfig *cfg, int attempt,
									 const char *retry_after);
extern void luxe_http_sleep(int ms);
extern char *luxe_http_escape(const char *s);
extern char *luxe_http_excerpt(const char *text, size_t len);

/* A URL as libcurl parses it: what it will connect to. */
typedef struct LuxeUrl
{
	char	   *scheme;			/* lower case */
	char	   *host;			/* an IPv6 address in brackets */
	int			port;			/* explicit, or the scheme's default */
	bool		has_userinfo;	/* a user name or password */
	bool		has_query;		/* a query or a fragment */
} LuxeUrl;

/* body bytes received by this backend since it started */
extern int64 luxe_http_bytes_received;

/* GUC luxe_fdw.allowed_endpoints */
extern char *luxe_http_allowed_endpoints;

extern const char *luxe_http_parse_url(const char *url, LuxeUrl *u);
extern bool luxe_http_host_is_loopback(const char *host);
extern void luxe_http_check_destination(const char *url, const char *what,
										Oid role, bool credentials);

#endif							/* LUXE_HTTP_H */
