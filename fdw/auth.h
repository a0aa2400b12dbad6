/*-------------------------------------------------------------------------
 *
 * auth.h
 *		  Credentials for Google APIs.
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

#include "option.h"

/* in auth.c */
extern char *luxe_auth_get_header(const LuxeAuthOptions *auth,
								  const LuxeServerOptions *server);

#endif							/* LUXE_AUTH_H */
