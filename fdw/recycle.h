/*-------------------------------------------------------------------------
 *
 * recycle.h
 *		  The storage of an unlogged table emptied by TRUNCATE, kept after
 *		  the commit to be written over by the next full reload.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/recycle.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LUXE_RECYCLE_H
#define LUXE_RECYCLE_H

#include "storage/block.h"
#include "utils/relcache.h"

/*
 * Give rel (new and empty in this transaction, unlogged, written by this
 * backend only) the file kept of its previous storage, if any: returns its
 * blocks, which the caller must write over or truncate away (their
 * contents are meaningless), or 0.
 */
extern BlockNumber luxe_recycle_adopt(Relation rel);

#endif							/* LUXE_RECYCLE_H */
