/*-------------------------------------------------------------------------
 *
 * auth.h
 *		  Credentials for Google APIs: static tokens, service-account keys
 *		  (RS256 JWT exchanged for an OAuth2 token) and the GCE metadata
 *		  server, with a per-backend token cache.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/auth.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LUXE_AUTH_H
#define LUXE_AUTH_H

#include "http.h"
#include "option.h"

/* in auth.c */
extern char *luxe_auth_metadata_host;
extern char *luxe_auth_get_header(const LuxeAuthOptions *auth,
								  const char *endpoint,
								  const LuxeHttpConfig *http,
								  LuxeHttpStats *stats);
extern void luxe_auth_forget(const LuxeAuthOptions *auth);
extern char *luxe_auth_cached_header(const LuxeAuthOptions *auth, bool *usable);

#endif							/* LUXE_AUTH_H */
