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

void		fuzz_auth_reset(void);

void
fuzz_auth_reset(void)
{
	token_cache = NULL;
}
