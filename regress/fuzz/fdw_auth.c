/*-------------------------------------------------------------------------
 *
 * fdw_auth.c
 *		  fdw/auth.c, compiled unmodified into this translation unit so that
 *		  the harness can drop the per-backend token cache between fuzz
 *		  inputs (its entries live in TopMemoryContext, which the mini
 *		  backend frees at the end of every input).
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  regress/fuzz/fdw_auth.c
 *
 *-------------------------------------------------------------------------
 */
#include "auth.c"
#include "fuzz_common.h"

void
fuzz_auth_reset(void)
{
	token_cache = NULL;
}

/*
 * The user mapping of an input whose control line says "auth=none" or
 * "auth=metadata" (anything else: a bearer token, SECRET_TOKEN).
 */
void
fuzz_user_mapping(const char *control)
{
	const char *auth = fuzz_word_value(control, "auth");

	memset(&fuzz_auth_options, 0, sizeof(fuzz_auth_options));
	fuzz_auth_options.mode = LUXE_AUTH_TOKEN;
	fuzz_auth_options.token = SECRET_TOKEN;
	if (auth && strcmp(auth, "none") == 0)
		fuzz_auth_options.mode = LUXE_AUTH_NONE;
	else if (auth && strcmp(auth, "metadata") == 0)
		fuzz_auth_options.mode = LUXE_AUTH_METADATA;
	luxe_auth_metadata_host = "127.0.0.1:8099";
}
