/*-------------------------------------------------------------------------
 *
 * fuzz_common.h
 *		  What the libFuzzer harnesses of luxe_fdw share: the mini backend
 *		  (memory contexts, ereport, lists; mini_backend.c), the scripted
 *		  transport that stands in for http.c (fake_http.c) and the option
 *		  stubs (fake_option.c).
 *
 * Every fuzz input runs inside fuzz_input_begin() / fuzz_input_end(): the
 * input gets a fresh memory context under TopMemoryContext, and everything
 * palloc'd meanwhile (TopMemoryContext included) is freed at the end, so
 * LeakSanitizer sees only what the fdw code itself leaked from malloc
 * (jansson trees, libcsv buffers, OpenSSL and zlib state).
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  regress/fuzz/fuzz_common.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LUXE_FUZZ_COMMON_H
#define LUXE_FUZZ_COMMON_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/memutils.h"

#include "google.h"
#include "http.h"
#include "option.h"

/* ---- mini_backend.c ---- */

/* The error being handled in a PG_CATCH block, as errstart..errfinish built it. */
typedef struct FuzzErrorData
{
	int			elevel;
	int			sqlerrcode;
	char	   *message;
	char	   *detail;
	char	   *hint;
	char	   *context;
	const char *filename;
	int			lineno;
	const char *funcname;
} FuzzErrorData;

extern void fuzz_backend_init(void);
extern MemoryContext fuzz_input_begin(void);
extern void fuzz_input_end(void);
extern const FuzzErrorData *fuzz_error_current(void);
extern char *fuzz_error_string(const FuzzErrorData *e);
extern Size fuzz_chunk_size(const void *pointer);
extern bool fuzz_verbose;
extern void fuzz_fail(const char *fmt,...) pg_attribute_printf(1, 2) pg_attribute_noreturn();
extern void fuzz_check_error(const FuzzErrorData *e, const char *const *secrets);

/* Known bugs the harness tolerates when FUZZ_TOLERATE_KNOWN=1 (see run.sh). */
extern bool fuzz_tolerate_known;

/* ---- fake_http.c ---- */

typedef struct FuzzResponse
{
	long		status;			/* 0: a transport failure */
	char	   *headers;		/* "name: value\n", names lower case */
	const char *body;
	size_t		body_len;
	size_t		chunk;			/* stream reads: bytes per read (x-fuzz-chunk) */
	ssize_t		cut;			/* stream reads: break off after this many (x-fuzz-cut) */
} FuzzResponse;

typedef struct FuzzRequest
{
	const char *method;
	char	   *url;
	char	   *headers;		/* the request headers, one per line */
	char	   *body;
	size_t		body_len;
	bool		authorized;		/* carried an Authorization header */
	const FuzzResponse *response;	/* its answer; NULL: no answer */
} FuzzRequest;

/* The separator between responses of a script. */
#define FUZZ_RESPONSE_SEPARATOR "\n###\n"

extern void fuzz_http_script(const char *data, size_t len);
extern void fuzz_http_set_endpoint(const char *endpoint);
extern int	fuzz_http_requests(void);
extern const FuzzRequest *fuzz_http_request(int i);
extern int	fuzz_http_remaining(void);
extern void fuzz_http_check_credentials(const char *const *secrets);

/* ---- fake_option.c ---- */

extern LuxeAuthOptions fuzz_auth_options;
extern void fuzz_server_options(LuxeServerOptions *server, LuxeService service,
								const char *endpoint);

/* ---- fdw_auth.c ---- */

/* the bearer token of fuzz_user_mapping: it must never reach an error or a log */
#define SECRET_TOKEN "ya29.fuzz-secret-token"

extern void fuzz_auth_reset(void);
extern void fuzz_user_mapping(const char *control);

/* ---- helpers of the harnesses ---- */

/* Split "control line\n rest" */
extern const char *fuzz_split_control(const char *data, size_t len, char **control);
extern bool fuzz_has_word(const char *control, const char *word);
extern bool fuzz_valid_utf8(const char *s);
extern bool fuzz_memcasemem(const void *data, size_t size, const char *needle);
extern const char *fuzz_word_value(const char *control, const char *key);

#endif							/* LUXE_FUZZ_COMMON_H */
