/*-------------------------------------------------------------------------
 *
 * recycle.c
 *		  The storage of an unlogged table emptied by TRUNCATE, kept after
 *		  the commit to be written over by the next full reload.
 *
 * A full reload of the pipeline truncates its unlogged tables (a new,
 * empty file for each: the old rows stay intact until the commit) and
 * writes every row again.  At the commit PostgreSQL truncates the old file
 * to nothing, which frees its blocks (on a file system mounted with
 * discard, waiting for the device to discard them: a tenth of the
 * pipeline's time on the machines we measured) and its page cache, and
 * the next reload allocates as many blocks and pages again.  Instead, the
 * table asks for its storage to be recycled (luxe.recycle_storage, before
 * its TRUNCATE); when that transaction commits, the old file's segments
 * are moved aside into the tablespace's directory for temporary files,
 * under names that are this table's, and an empty file takes their place
 * (the tombstone PostgreSQL keeps until the next checkpoint, so that the
 * file's number is not given to another relation meanwhile).  The next
 * full reload's page writer (fdw/bulk_insert.c) moves them onto its new,
 * empty file and writes over their blocks, truncating what is left.
 *
 * Design assumptions and invariants:
 * - Only an unlogged table is recycled: its file is neither WAL-logged nor
 *   in a base backup, and after a crash it is reset from its init fork.
 * - The files moved aside hold nothing anyone reads: the page writer
 *   writes over every block it keeps and truncates the others, so stale,
 *   foreign or partial files are harmless (a relation OID used again by
 *   another table merely recycles the first one's file).
 * - Files are moved at commit only if PostgreSQL is about to delete them
 *   (smgrGetPendingDeletes, at pre-commit), after the commit record, with
 *   paths made beforehand; a failure there only loses the recycling
 *   (nothing after the commit record may throw).
 * - Their names start with pgsql_tmp, in the directory for temporary files
 *   of the table's tablespace: a server restart removes them, and base
 *   backups, pg_checksums and pg_rewind skip them.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/recycle.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_tablespace_d.h"
#include "catalog/storage.h"
#include "common/file_perm.h"
#include "common/relpath.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "recycle.h"

PG_FUNCTION_INFO_V1(luxe_recycle_storage);

/*
 * A table whose storage is to be kept if this transaction drops it, with
 * the path of that storage made beforehand (the commit callback must not
 * allocate: nothing may throw after the commit record).
 */
typedef struct Kept
{
	Oid			relid;
	RelFileNode node;			/* the storage it had when asked */
	bool		dropped;		/* this commit deletes it (at pre-commit) */
	char		path[MAXPGPATH];	/* its first segment */
} Kept;

static List *kept = NIL;		/* of Kept, in TopTransactionContext */
static bool callback_registered = false;

/* The directory the files kept in tablespace spc go to. */
static void
spare_dir(char *dir, Oid spc)
{
	TempTablespacePath(dir, spc == DEFAULTTABLESPACE_OID ? InvalidOid : spc);
}

/* The name of the first segment of the file kept for relid in tablespace spc. */
static void
spare_path(char *path, Oid spc, Oid relid)
{
	char		dir[MAXPGPATH];

	spare_dir(dir, spc);
	snprintf(path, MAXPGPATH, "%s/%s_luxe_spare_%u_%u", dir, PG_TEMP_FILE_PREFIX,
			 MyDatabaseId, relid);
}

/* Segment seg of a file whose first segment is first: first, first.1, ... */
static void
segment(char *path, const char *first, BlockNumber seg)
{
	if (seg == 0)
		strlcpy(path, first, MAXPGPATH);
	else
		snprintf(path, MAXPGPATH, "%s.%u", first, seg);
}

/* Remove the segments of a kept file, from segment from on. */
static void
remove_spare(const char *spare, BlockNumber from)
{
	char		path[MAXPGPATH];
	BlockNumber seg;

	for (seg = from;; seg++)
	{
		segment(path, spare, seg);
		if (unlink(path) != 0)
			break;
	}
}

/*
 * Rename the segments of the file whose first segment is from to those of
 * to, in order, until one cannot be (there is none left); how many were.
 */
static BlockNumber
move_segments(const char *from, const char *to)
{
	char		src[MAXPGPATH];
	char		dst[MAXPGPATH];
	BlockNumber seg;

	for (seg = 0;; seg++)
	{
		segment(src, from, seg);
		segment(dst, to, seg);
		if (rename(src, dst) != 0)
			return seg;
	}
}

/*
 * Move the segments of a dropped file aside as its table's spare and
 * leave an empty file in the place of the first.  Runs after the commit
 * record: it must not throw (nor allocate), and on any failure puts back
 * what it moved.
 */
static void
keep_storage(const Kept *k)
{
	char		spare[MAXPGPATH];
	char		dir[MAXPGPATH];
	char		from[MAXPGPATH];
	char		to[MAXPGPATH];
	BlockNumber moved;
	int			fd;
	struct stat st;

	/*
	 * An empty file is not worth keeping (nor is the tombstone of a file
	 * already moved, asked for twice: what was kept stays).
	 */
	if (stat(k->path, &st) != 0 || st.st_size == 0)
		return;
	spare_path(spare, k->node.spcNode, k->relid);
	remove_spare(spare, 0);
	spare_dir(dir, k->node.spcNode);
	if (mkdir(dir, pg_dir_create_mode) != 0 && errno != EEXIST)
		return;
	moved = move_segments(k->path, spare);
	if (moved == 0)
		return;
	fd = BasicOpenFilePerm(k->path, O_RDWR | O_CREAT | O_EXCL | PG_BINARY, pg_file_create_mode);
	if (fd >= 0)
	{
		close(fd);
		return;
	}
	/* no tombstone: the file's number must stay taken, so put it all back */
	while (moved-- > 0)
	{
		segment(from, k->path, moved);
		segment(to, spare, moved);
		(void) rename(to, from);
	}
}

static void
recycle_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			/* which files this commit deletes is settled by now */
			if (kept != NIL)
			{
				RelFileNode *dropped;
				int			ndropped = smgrGetPendingDeletes(true, &dropped);

				foreach(lc, kept)
				{
					Kept	   *k = lfirst(lc);
					int			i;

					for (i = 0; i < ndropped; i++)
						if (RelFileNodeEquals(dropped[i], k->node))
							k->dropped = true;
				}
			}
			break;
		case XACT_EVENT_COMMIT:
			foreach(lc, kept)
			{
				Kept	   *k = lfirst(lc);

				if (k->dropped)
					keep_storage(k);
			}
			kept = NIL;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			kept = NIL;
			break;
		default:
			break;
	}
}

/*
 * luxe_recycle_storage
 *		luxe.recycle_storage(rel regclass, keep boolean): with keep, the
 *		current storage of the unlogged table rel is kept for the next full
 *		reload if this transaction drops it (call it before a TRUNCATE);
 *		without, the storage kept for rel (any table) is removed now.  A
 *		table that is not unlogged is never kept.
 */
Datum
luxe_recycle_storage(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	bool		keep = PG_GETARG_BOOL(1);
	Relation	rel = relation_open(relid, AccessShareLock);

	if (rel->rd_rel->relkind != RELKIND_RELATION)
	{
		relation_close(rel, AccessShareLock);
		PG_RETURN_VOID();
	}
	if (!keep)
	{
		/* (a table made logged since may have a kept file: it goes too) */
		char		spare[MAXPGPATH];

		spare_path(spare, rel->rd_node.spcNode, relid);
		remove_spare(spare, 0);
	}
	else if (rel->rd_rel->relpersistence == RELPERSISTENCE_UNLOGGED)
	{
		ListCell   *lc;

		foreach(lc, kept)
		{
			Kept	   *other = lfirst(lc);

			if (other->relid == relid && RelFileNodeEquals(other->node, rel->rd_node))
				break;
		}
		if (lc == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
			Kept	   *k = palloc(sizeof(Kept));
			char	   *path = relpathperm(rel->rd_node, MAIN_FORKNUM);

			k->relid = relid;
			k->node = rel->rd_node;
			k->dropped = false;
			strlcpy(k->path, path, MAXPGPATH);
			pfree(path);
			kept = lappend(kept, k);
			MemoryContextSwitchTo(old);
		}
		if (!callback_registered)
		{
			RegisterXactCallback(recycle_xact_callback, NULL);
			callback_registered = true;
		}
	}
	relation_close(rel, AccessShareLock);
	PG_RETURN_VOID();
}

BlockNumber
luxe_recycle_adopt(Relation rel)
{
	char		spare[MAXPGPATH];
	char		path[MAXPGPATH];
	char	   *base;
	BlockNumber moved;

	Assert(RelationGetNumberOfBlocks(rel) == 0);
	if (rel->rd_rel->relpersistence != RELPERSISTENCE_UNLOGGED)
		return 0;
	spare_path(spare, rel->rd_node.spcNode, RelationGetRelid(rel));
	base = relpathperm(rel->rd_node, MAIN_FORKNUM);
	strlcpy(path, base, MAXPGPATH);
	pfree(base);
	moved = move_segments(spare, path);
	if (moved == 0)
		return 0;
	/* (a segment that could not be moved is no use without the ones before) */
	remove_spare(spare, moved);
	/* the open file descriptors are those of the empty file replaced */
	smgrclose(RelationGetSmgr(rel));
	return smgrnblocks(RelationGetSmgr(rel), MAIN_FORKNUM);
}
