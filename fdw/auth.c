/*-------------------------------------------------------------------------
 *
 * auth.c
 *		  Credentials for Google APIs.
 *
 * Design assumptions and invariants:
 * - The result of luxe_auth_get_header is a complete "Authorization:"
 *   header line.  It is a secret: callers hand it to http.c and nowhere
 *   else (not to fdw_private, EXPLAIN, logs or messages).
 * - A credential is never sent in clear text to a host that is not on the
 *   loopback interface: over plain http it would be readable on the wire.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/auth.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "auth.h"
#include "http.h"

/*
 * luxe_auth_get_header
 *		The Authorization header for the user mapping's credentials, palloc'd
 *		in the current context, or NULL for anonymous access.  Can throw.
 */
char *
luxe_auth_get_header(const LuxeAuthOptions *auth, const LuxeServerOptions *server)
{
	if (auth->mode == LUXE_AUTH_NONE)
		return NULL;

	if (strncmp(server->endpoint, "http://", 7) == 0 &&
		!luxe_http_url_is_loopback(server->endpoint))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot send credentials to \"%s\" over unencrypted HTTP",
						server->endpoint),
				 errhint("Use an https:// endpoint, or auth 'none' for a local emulator.")));

	return psprintf("Authorization: Bearer %s", auth->token);
}
