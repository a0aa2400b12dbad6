/*-------------------------------------------------------------------------
 *
 * mini_backend.c
 *		  The PostgreSQL backend symbols that csv.c, gcs.c, bigquery.c,
 *		  auth.c and google.c link against, rebuilt small for libFuzzer.
 *
 * Design:
 * - Memory contexts keep the server's contract (palloc'd chunks belong to
 *   a context; reset and delete free them and run the reset callbacks,
 *   children first; GetMemoryChunkContext finds a chunk's context in the
 *   word before it) but every chunk is its own malloc, so AddressSanitizer
 *   sees each chunk's bounds, and a use after pfree, repalloc or a context
 *   reset is reported.  repalloc always moves the chunk.
 * - ereport/elog follow the server's protocol: errstart opens an entry,
 *   errcode/errmsg/... fill it, errfinish runs the error context callbacks
 *   and, for ERROR, longjmps to PG_exception_stack exactly as PG_TRY
 *   expects; the entry stays current until FlushErrorState.  An ERROR with
 *   no PG_TRY around it, FATAL and PANIC abort (the fuzzer reports them).
 * - Everything else (lists, StringInfo, psprintf, time, interrupts) is the
 *   smallest version that honours the header's contract.  Symbols the
 *   fuzzed paths must never reach (catalog lookups, hash tables) raise an
 *   ERROR naming themselves.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  regress/fuzz/mini_backend.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdarg.h>
#include <sys/time.h>

#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/memnodes.h"
#include "nodes/pg_list.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "fuzz_common.h"

/* in fdw_auth.c, when the target links auth.c */
extern void fuzz_auth_reset(void) __attribute__((weak));

bool		fuzz_verbose = false;
bool		fuzz_tolerate_known = false;

/* ---------------------------------------------------------------------
 * Memory contexts
 * ---------------------------------------------------------------------
 */

typedef struct FuzzChunk
{
	struct FuzzChunk *prev;
	struct FuzzChunk *next;
	Size		size;
	MemoryContext context;		/* must be the word right before the data */
} FuzzChunk;

StaticAssertDecl(sizeof(FuzzChunk) % MAXIMUM_ALIGNOF == 0,
				 "chunk header keeps the data MAXALIGNed");
StaticAssertDecl(offsetof(FuzzChunk, context) + sizeof(void *) == sizeof(FuzzChunk),
				 "the context pointer precedes the data");

typedef struct FuzzContext
{
	MemoryContextData hdr;
	FuzzChunk  *chunks;
} FuzzContext;

MemoryContext CurrentMemoryContext = NULL;
MemoryContext TopMemoryContext = NULL;
MemoryContext ErrorContext = NULL;
MemoryContext CacheMemoryContext = NULL;

static MemoryContext input_context = NULL;

/* palloc'd bytes live now: a runaway allocation is an ERROR, as in a backend */
static Size live_bytes = 0;
#define FUZZ_MEMORY_LIMIT	((Size) 512 * 1024 * 1024)

static MemoryContext
context_create(MemoryContext parent, const char *name)
{
	FuzzContext *c = calloc(1, sizeof(FuzzContext));

	if (c == NULL)
		abort();
	c->hdr.type = T_AllocSetContext;
	c->hdr.isReset = true;
	c->hdr.parent = parent;
	c->hdr.name = name;
	if (parent)
	{
		c->hdr.nextchild = parent->firstchild;
		if (parent->firstchild)
			parent->firstchild->prevchild = &c->hdr;
		parent->firstchild = &c->hdr;
	}
	return &c->hdr;
}

MemoryContext
AllocSetContextCreateInternal(MemoryContext parent, const char *name,
							  Size minContextSize, Size initBlockSize,
							  Size maxBlockSize)
{
	return context_create(parent, name);
}

static void
call_reset_callbacks(MemoryContext context)
{
	MemoryContextCallback *cb;

	/* one-shot, newest first, as in the server */
	while ((cb = context->reset_cbs) != NULL)
	{
		context->reset_cbs = cb->next;
		cb->func(cb->arg);
	}
}

static void
free_chunks(MemoryContext context)
{
	FuzzContext *c = (FuzzContext *) context;

	while (c->chunks)
	{
		FuzzChunk  *ch = c->chunks;

		c->chunks = ch->next;
		live_bytes -= ch->size;
		free(ch);
	}
	context->isReset = true;
}

void
MemoryContextDeleteChildren(MemoryContext context)
{
	while (context->firstchild)
		MemoryContextDelete(context->firstchild);
}

void
MemoryContextResetOnly(MemoryContext context)
{
	call_reset_callbacks(context);
	free_chunks(context);
}

void
MemoryContextReset(MemoryContext context)
{
	MemoryContextDeleteChildren(context);
	MemoryContextResetOnly(context);
}

void
MemoryContextDelete(MemoryContext context)
{
	if (context == TopMemoryContext || context == ErrorContext)
		fuzz_fail("MemoryContextDelete of \"%s\"", context->name);
	if (context == CurrentMemoryContext)
		fuzz_fail("MemoryContextDelete of the current memory context \"%s\"", context->name);
	MemoryContextDeleteChildren(context);
	call_reset_callbacks(context);
	/* a callback may have made a child */
	MemoryContextDeleteChildren(context);
	if (context->parent)
	{
		if (context->prevchild)
			context->prevchild->nextchild = context->nextchild;
		else
			context->parent->firstchild = context->nextchild;
		if (context->nextchild)
			context->nextchild->prevchild = context->prevchild;
	}
	free_chunks(context);
	free(context);
}

void
MemoryContextRegisterResetCallback(MemoryContext context, MemoryContextCallback *cb)
{
	cb->next = context->reset_cbs;
	context->reset_cbs = cb;
	context->isReset = false;
}

void
MemoryContextSetIdentifier(MemoryContext context, const char *id)
{
	context->ident = id;
}

void
MemoryContextSetParent(MemoryContext context, MemoryContext new_parent)
{
	/* unlink, then link under new_parent */
	if (context->parent)
	{
		if (context->prevchild)
			context->prevchild->nextchild = context->nextchild;
		else
			context->parent->firstchild = context->nextchild;
		if (context->nextchild)
			context->nextchild->prevchild = context->prevchild;
	}
	context->parent = new_parent;
	context->prevchild = NULL;
	context->nextchild = NULL;
	if (new_parent)
	{
		context->nextchild = new_parent->firstchild;
		if (new_parent->firstchild)
			new_parent->firstchild->prevchild = context;
		new_parent->firstchild = context;
	}
}

MemoryContext
MemoryContextGetParent(MemoryContext context)
{
	return context->parent;
}

static void *
chunk_alloc(MemoryContext context, Size size, int flags)
{
	FuzzContext *c = (FuzzContext *) context;
	FuzzChunk  *ch;

	if (context == NULL)
		fuzz_fail("palloc with no current memory context");
	if (!((flags & MCXT_ALLOC_HUGE) ? AllocHugeSizeIsValid(size) : AllocSizeIsValid(size)))
		elog(ERROR, "invalid memory alloc request size %zu", size);
	if (live_bytes + size > FUZZ_MEMORY_LIMIT ||
		(ch = malloc(sizeof(FuzzChunk) + size)) == NULL)
	{
		if (flags & MCXT_ALLOC_NO_OOM)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed on request of size %zu in memory context \"%s\".",
						   size, context->name)));
	}
	ch->size = size;
	ch->context = context;
	ch->prev = NULL;
	ch->next = c->chunks;
	if (c->chunks)
		c->chunks->prev = ch;
	c->chunks = ch;
	context->isReset = false;
	live_bytes += size;
	if (flags & MCXT_ALLOC_ZERO)
		memset(ch + 1, 0, size);
	return ch + 1;
}

static FuzzChunk *
chunk_of(const void *pointer)
{
	FuzzChunk  *ch = ((FuzzChunk *) pointer) - 1;

	if (ch->context == NULL || ch->context->type != T_AllocSetContext)
		fuzz_fail("pointer %p is not a palloc'd chunk", pointer);
	return ch;
}

static void
chunk_unlink(FuzzChunk *ch)
{
	FuzzContext *c = (FuzzContext *) ch->context;

	if (ch->prev)
		ch->prev->next = ch->next;
	else
		c->chunks = ch->next;
	if (ch->next)
		ch->next->prev = ch->prev;
	live_bytes -= ch->size;
}

Size
fuzz_chunk_size(const void *pointer)
{
	return chunk_of(pointer)->size;
}

void *
MemoryContextAlloc(MemoryContext context, Size size)
{
	return chunk_alloc(context, size, 0);
}

void *
MemoryContextAllocZero(MemoryContext context, Size size)
{
	return chunk_alloc(context, size, MCXT_ALLOC_ZERO);
}

void *
MemoryContextAllocZeroAligned(MemoryContext context, Size size)
{
	return chunk_alloc(context, size, MCXT_ALLOC_ZERO);
}

void *
MemoryContextAllocExtended(MemoryContext context, Size size, int flags)
{
	return chunk_alloc(context, size, flags);
}

void *
MemoryContextAllocHuge(MemoryContext context, Size size)
{
	return chunk_alloc(context, size, MCXT_ALLOC_HUGE);
}

void *
palloc(Size size)
{
	return chunk_alloc(CurrentMemoryContext, size, 0);
}

void *
palloc0(Size size)
{
	return chunk_alloc(CurrentMemoryContext, size, MCXT_ALLOC_ZERO);
}

void *
palloc_extended(Size size, int flags)
{
	return chunk_alloc(CurrentMemoryContext, size, flags);
}

void
pfree(void *pointer)
{
	FuzzChunk  *ch = chunk_of(pointer);

	chunk_unlink(ch);
	free(ch);
}

static void *
chunk_realloc(void *pointer, Size size, int flags)
{
	FuzzChunk  *ch = chunk_of(pointer);
	void	   *p = chunk_alloc(ch->context, size, flags);

	memcpy(p, pointer, Min(size, ch->size));
	chunk_unlink(ch);
	free(ch);
	return p;
}

void *
repalloc(void *pointer, Size size)
{
	return chunk_realloc(pointer, size, 0);
}

void *
repalloc_huge(void *pointer, Size size)
{
	return chunk_realloc(pointer, size, MCXT_ALLOC_HUGE);
}

Size
GetMemoryChunkSpace(void *pointer)
{
	return chunk_of(pointer)->size + sizeof(FuzzChunk);
}

char *
MemoryContextStrdup(MemoryContext context, const char *string)
{
	Size		n = strlen(string) + 1;
	char	   *p = MemoryContextAlloc(context, n);

	memcpy(p, string, n);
	return p;
}

char *
pstrdup(const char *in)
{
	return MemoryContextStrdup(CurrentMemoryContext, in);
}

char *
pnstrdup(const char *in, Size len)
{
	Size		n = strnlen(in, len);
	char	   *p = palloc(n + 1);

	memcpy(p, in, n);
	p[n] = '\0';
	return p;
}

char *
pchomp(const char *in)
{
	Size		n = strlen(in);

	while (n > 0 && in[n - 1] == '\n')
		n--;
	return pnstrdup(in, n);
}

/* vsnprintf into a palloc'd buffer that grows until the text fits */
static char *
format_va(MemoryContext cxt, const char *fmt, va_list args)
{
	Size		cap = 128;

	for (;;)
	{
		char	   *buf = MemoryContextAlloc(cxt, cap);
		va_list		copy;
		int			n;

		va_copy(copy, args);
		n = vsnprintf(buf, cap, fmt, copy);
		va_end(copy);
		if (n < 0)
			elog(ERROR, "vsnprintf failed: %m with format string \"%s\"", fmt);
		if ((Size) n < cap)
			return buf;
		pfree(buf);
		cap = (Size) n + 1;
	}
}

char *
psprintf(const char *fmt,...)
{
	va_list		args;
	char	   *result;

	va_start(args, fmt);
	result = format_va(CurrentMemoryContext, fmt, args);
	va_end(args);
	return result;
}

size_t
pvsnprintf(char *buf, size_t len, const char *fmt, va_list args)
{
	int			n = vsnprintf(buf, len, fmt, args);

	if (n < 0)
		elog(ERROR, "vsnprintf failed: %m with format string \"%s\"", fmt);
	if ((size_t) n < len)
		return (size_t) n;
	return (size_t) n + 1;
}

/* ---------------------------------------------------------------------
 * Errors
 * ---------------------------------------------------------------------
 */

sigjmp_buf *PG_exception_stack = NULL;
ErrorContextCallback *error_context_stack = NULL;
volatile sig_atomic_t InterruptPending = false;
volatile sig_atomic_t QueryCancelPending = false;
volatile sig_atomic_t ProcDiePending = false;
volatile uint32 InterruptHoldoffCount = 0;
volatile uint32 QueryCancelHoldoffCount = 0;
volatile uint32 CritSectionCount = 0;

#define ERRORDATA_STACK_SIZE 5

static FuzzErrorData errordata[ERRORDATA_STACK_SIZE];
static int	errordata_depth = -1;

void
fuzz_fail(const char *fmt,...)
{
	va_list		args;

	fprintf(stderr, "\n==FUZZ== invariant failure: ");
	va_start(args, fmt);
	vfprintf(stderr, fmt, args);
	va_end(args);
	fprintf(stderr, "\n");
	abort();
}

bool
errstart(int elevel, const char *domain)
{
	FuzzErrorData *e;

	if (elevel >= FATAL)
		fuzz_fail("a FATAL or PANIC ereport was raised");
	if (++errordata_depth >= ERRORDATA_STACK_SIZE)
		fuzz_fail("error stack overflow: ereport while handling %d errors", ERRORDATA_STACK_SIZE);
	e = &errordata[errordata_depth];
	memset(e, 0, sizeof(*e));
	e->elevel = elevel;
	/* an elog(ERROR) without errcode is an internal error (XX000) */
	e->sqlerrcode = elevel >= ERROR ? ERRCODE_INTERNAL_ERROR :
		elevel >= WARNING ? ERRCODE_WARNING : ERRCODE_SUCCESSFUL_COMPLETION;
	return true;				/* every level is evaluated: its arguments too */
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

bool
message_level_is_interesting(int elevel)
{
	return true;
}

static FuzzErrorData *
current(void)
{
	if (errordata_depth < 0)
		fuzz_fail("errcode/errmsg outside errstart");
	return &errordata[errordata_depth];
}

int
errcode(int sqlerrcode)
{
	current()->sqlerrcode = sqlerrcode;
	return 0;
}

int
errcode_for_file_access(void)
{
	current()->sqlerrcode = errno == ENOENT ? ERRCODE_UNDEFINED_FILE :
		errno == EACCES ? ERRCODE_INSUFFICIENT_PRIVILEGE : ERRCODE_IO_ERROR;
	return 0;
}

#define SET_FIELD(field) \
	do { \
		FuzzErrorData *e_ = current(); \
		va_list		args_; \
		va_start(args_, fmt); \
		e_->field = format_va(ErrorContext, fmt, args_); \
		va_end(args_); \
	} while (0)

int
errmsg(const char *fmt,...)
{
	SET_FIELD(message);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	SET_FIELD(message);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	SET_FIELD(detail);
	return 0;
}

int
errdetail_internal(const char *fmt,...)
{
	SET_FIELD(detail);
	return 0;
}

int
errdetail_log(const char *fmt,...)
{
	SET_FIELD(detail);
	return 0;
}

int
errhint(const char *fmt,...)
{
	SET_FIELD(hint);
	return 0;
}

int
set_errcontext_domain(const char *domain)
{
	return 0;
}

int
errcontext_msg(const char *fmt,...)
{
	FuzzErrorData *e = current();
	va_list		args;
	char	   *line;

	va_start(args, fmt);
	line = format_va(ErrorContext, fmt, args);
	va_end(args);
	e->context = e->context ?
		MemoryContextStrdup(ErrorContext, psprintf("%s\n%s", e->context, line)) : line;
	return 0;
}

int
errhidestmt(bool hide_stmt)
{
	return 0;
}

int
errhidecontext(bool hide_ctx)
{
	return 0;
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	FuzzErrorData *e = current();
	ErrorContextCallback *ecxt;
	MemoryContext old = CurrentMemoryContext;

	e->filename = filename;
	e->lineno = lineno;
	e->funcname = funcname;
	/* the context callbacks run with the entry open, as in the server */
	CurrentMemoryContext = ErrorContext;
	for (ecxt = error_context_stack; ecxt != NULL; ecxt = ecxt->previous)
		ecxt->callback(ecxt->arg);
	CurrentMemoryContext = old;

	if (fuzz_verbose)
		fprintf(stderr, "fuzz: %s %s\n", e->elevel >= ERROR ? "ERROR" : "LOG",
				fuzz_error_string(e));
	if (e->message == NULL)
		fuzz_fail("ereport without a message at %s:%d", filename, lineno);
	if (e->elevel >= ERROR)
		pg_re_throw();
	/* a message below ERROR is dropped; its strings die with ErrorContext */
	errordata_depth--;
}

void
pg_re_throw(void)
{
	if (PG_exception_stack == NULL)
		fuzz_fail("ERROR with no PG_TRY to catch it: %s",
				  errordata_depth >= 0 ? fuzz_error_string(&errordata[errordata_depth]) : "?");
	siglongjmp(*PG_exception_stack, 1);
}

void
FlushErrorState(void)
{
	errordata_depth = -1;
	MemoryContextReset(ErrorContext);
}

/* The current error as an ErrorData, palloc'd in the current context. */
ErrorData *
CopyErrorData(void)
{
	FuzzErrorData *e = current();
	ErrorData  *d = palloc0(sizeof(ErrorData));

	d->elevel = e->elevel;
	d->sqlerrcode = e->sqlerrcode;
	d->message = e->message ? pstrdup(e->message) : NULL;
	d->detail = e->detail ? pstrdup(e->detail) : NULL;
	d->hint = e->hint ? pstrdup(e->hint) : NULL;
	d->context = e->context ? pstrdup(e->context) : NULL;
	d->filename = e->filename;
	d->lineno = e->lineno;
	d->funcname = e->funcname;
	return d;
}

/* Throw a copied error again, as it was (no context callbacks run again). */
void
ReThrowError(ErrorData *edata)
{
	FuzzErrorData *e;

	if (edata->elevel < ERROR)
		fuzz_fail("ReThrowError of a level %d error", edata->elevel);
	errstart(edata->elevel, NULL);
	e = current();
	e->sqlerrcode = edata->sqlerrcode;
	e->message = edata->message ? MemoryContextStrdup(ErrorContext, edata->message) : NULL;
	e->detail = edata->detail ? MemoryContextStrdup(ErrorContext, edata->detail) : NULL;
	e->hint = edata->hint ? MemoryContextStrdup(ErrorContext, edata->hint) : NULL;
	e->context = edata->context ? MemoryContextStrdup(ErrorContext, edata->context) : NULL;
	e->filename = edata->filename;
	e->lineno = edata->lineno;
	e->funcname = edata->funcname;
	pg_re_throw();
}

void
FreeErrorData(ErrorData *edata)
{
	if (edata->message)
		pfree(edata->message);
	if (edata->detail)
		pfree(edata->detail);
	if (edata->hint)
		pfree(edata->hint);
	if (edata->context)
		pfree(edata->context);
	pfree(edata);
}

const FuzzErrorData *
fuzz_error_current(void)
{
	if (errordata_depth < 0)
		fuzz_fail("no current error in a PG_CATCH block");
	return &errordata[errordata_depth];
}

char *
fuzz_error_string(const FuzzErrorData *e)
{
	return psprintf("%s [%s] %s%s%s%s%s%s%s (%s:%d)",
					e->elevel >= ERROR ? "ERROR" : "message",
					unpack_sql_state(e->sqlerrcode),
					e->message ? e->message : "(no message)",
					e->detail ? " DETAIL: " : "", e->detail ? e->detail : "",
					e->hint ? " HINT: " : "", e->hint ? e->hint : "",
					e->context ? " CONTEXT: " : "", e->context ? e->context : "",
					e->filename ? e->filename : "?", e->lineno);
}

char *
unpack_sql_state(int sql_state)
{
	static char buf[12];
	int			i;

	for (i = 0; i < 5; i++)
	{
		buf[i] = PGUNSIXBIT(sql_state);
		sql_state >>= 6;
	}
	buf[i] = '\0';
	return buf;
}

/*
 * What every ERROR must satisfy, whatever the remote input: an errcode
 * (elog's XX000 is for cannot-happen states, and remote input is not
 * one), a message, and no secret in any of its texts.
 */
void
fuzz_check_error(const FuzzErrorData *e, const char *const *secrets)
{
	const char *texts[4];
	int			i;

	if (e->elevel < ERROR)
		fuzz_fail("a caught error has level %d", e->elevel);
	/* a harness stepping past a known bug (FUZZ_TOLERATE_KNOWN=1) */
	if (e->message && strncmp(e->message, "fuzz: tolerated known bug", 25) == 0)
		return;
	if (e->message == NULL || e->message[0] == '\0')
		fuzz_fail("ERROR without a message at %s:%d", e->filename, e->lineno);
	if (e->sqlerrcode == ERRCODE_INTERNAL_ERROR)
		fuzz_fail("remote input reaches an internal error (elog without errcode): %s",
				  fuzz_error_string(e));
	texts[0] = e->message;
	texts[1] = e->detail;
	texts[2] = e->hint;
	texts[3] = e->context;
	for (i = 0; secrets && secrets[i]; i++)
	{
		int			k;

		if (secrets[i][0] == '\0')
			continue;
		for (k = 0; k < 4; k++)
			if (texts[k] && strstr(texts[k], secrets[i]))
				fuzz_fail("a secret (\"%.12s...\") appears in an error: %s",
						  secrets[i], fuzz_error_string(e));
	}
}

void
ProcessInterrupts(void)
{
	if (InterruptHoldoffCount != 0 || CritSectionCount != 0)
		return;
	InterruptPending = false;
	if (ProcDiePending)
		fuzz_fail("a termination request is pending");
	if (QueryCancelPending && QueryCancelHoldoffCount == 0)
	{
		QueryCancelPending = false;
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("canceling statement due to user request")));
	}
}

/* ---------------------------------------------------------------------
 * The life of one fuzz input
 * ---------------------------------------------------------------------
 */

void
fuzz_backend_init(void)
{
	const char *v;

	if (TopMemoryContext)
		return;
	TopMemoryContext = context_create(NULL, "TopMemoryContext");
	ErrorContext = context_create(TopMemoryContext, "ErrorContext");
	CacheMemoryContext = TopMemoryContext;
	CurrentMemoryContext = TopMemoryContext;
	v = getenv("FUZZ_VERBOSE");
	fuzz_verbose = v && v[0] == '1';
	v = getenv("FUZZ_TOLERATE_KNOWN");
	fuzz_tolerate_known = v && v[0] == '1';
}

MemoryContext
fuzz_input_begin(void)
{
	fuzz_backend_init();
	if (input_context != NULL)
		fuzz_fail("fuzz_input_begin twice");
	input_context = AllocSetContextCreate(TopMemoryContext, "fuzz input",
										  ALLOCSET_DEFAULT_SIZES);
	CurrentMemoryContext = input_context;
	PG_exception_stack = NULL;
	error_context_stack = NULL;
	InterruptPending = QueryCancelPending = ProcDiePending = false;
	InterruptHoldoffCount = QueryCancelHoldoffCount = CritSectionCount = 0;
	return input_context;
}

/*
 * Tear the input down as a backend would at the end of a statement: the
 * input context goes (its reset callbacks run with another context
 * current, and may not throw), then whatever the input left in
 * TopMemoryContext (the token cache) is dropped too.
 */
void
fuzz_input_end(void)
{
	MemoryContext teardown;
	MemoryContext child;

	if (errordata_depth >= 0)
		FlushErrorState();
	teardown = AllocSetContextCreate(TopMemoryContext, "fuzz teardown",
									 ALLOCSET_DEFAULT_SIZES);
	CurrentMemoryContext = teardown;
	PG_exception_stack = NULL;	/* a callback that throws is a bug */
	error_context_stack = NULL;
	MemoryContextDelete(input_context);
	input_context = NULL;
	CurrentMemoryContext = TopMemoryContext;
	MemoryContextDelete(teardown);

	if (fuzz_auth_reset)
		fuzz_auth_reset();
	while ((child = TopMemoryContext->firstchild) != NULL && child != ErrorContext)
		MemoryContextDelete(child);
	for (child = ErrorContext->nextchild; child != NULL; child = ErrorContext->nextchild)
		MemoryContextDelete(child);
	free_chunks(TopMemoryContext);
	FlushErrorState();
	if (live_bytes != 0)
		fuzz_fail("%zu palloc'd bytes outlive the input", live_bytes);
}

/* ---------------------------------------------------------------------
 * StringInfo
 * ---------------------------------------------------------------------
 */

StringInfo
makeStringInfo(void)
{
	StringInfo	s = palloc(sizeof(StringInfoData));

	initStringInfo(s);
	return s;
}

void
initStringInfo(StringInfo str)
{
	str->maxlen = 1024;
	str->data = palloc(str->maxlen);
	resetStringInfo(str);
}

void
resetStringInfo(StringInfo str)
{
	str->data[0] = '\0';
	str->len = 0;
	str->cursor = 0;
}

void
enlargeStringInfo(StringInfo str, int needed)
{
	Size		want;
	Size		cap;

	if (needed < 0 || (Size) needed >= MaxAllocSize - (Size) str->len)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("out of memory"),
				 errdetail("Cannot enlarge string buffer containing %d bytes by %d more bytes.",
						   str->len, needed)));
	want = (Size) str->len + needed + 1;
	if (want <= (Size) str->maxlen)
		return;
	cap = str->maxlen;
	while (cap < want)
		cap *= 2;
	if (cap > MaxAllocSize)
		cap = MaxAllocSize;
	str->data = repalloc(str->data, cap);
	str->maxlen = (int) cap;
}

void
appendBinaryStringInfo(StringInfo str, const char *data, int datalen)
{
	enlargeStringInfo(str, datalen);
	if (datalen > 0)
		memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
	str->data[str->len] = '\0';
}

void
appendBinaryStringInfoNT(StringInfo str, const char *data, int datalen)
{
	enlargeStringInfo(str, datalen);
	if (datalen > 0)
		memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
}

void
appendStringInfoString(StringInfo str, const char *s)
{
	appendBinaryStringInfo(str, s, (int) strlen(s));
}

void
appendStringInfoChar(StringInfo str, char ch)
{
	enlargeStringInfo(str, 1);
	str->data[str->len++] = ch;
	str->data[str->len] = '\0';
}

void
appendStringInfoSpaces(StringInfo str, int count)
{
	enlargeStringInfo(str, count);
	while (count-- > 0)
		str->data[str->len++] = ' ';
	str->data[str->len] = '\0';
}

int
appendStringInfoVA(StringInfo str, const char *fmt, va_list args)
{
	Size		avail = (Size) (str->maxlen - str->len);
	int			n = vsnprintf(str->data + str->len, avail, fmt, args);

	if (n < 0)
		elog(ERROR, "vsnprintf failed: %m with format string \"%s\"", fmt);
	if ((Size) n < avail)
	{
		str->len += n;
		return 0;
	}
	str->data[str->len] = '\0';
	return n + 1;
}

void
appendStringInfo(StringInfo str, const char *fmt,...)
{
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(str, fmt, args);
		va_end(args);
		if (needed == 0)
			return;
		enlargeStringInfo(str, needed);
	}
}

/* ---------------------------------------------------------------------
 * Lists (the PostgreSQL 13+ array representation)
 * ---------------------------------------------------------------------
 */

static List *
list_new(NodeTag type, int n)
{
	int			cap = Max(n, 4);
	List	   *l = palloc(offsetof(List, initial_elements) + cap * sizeof(ListCell));

	l->type = type;
	l->length = n;
	l->max_length = cap;
	l->elements = l->initial_elements;
	return l;
}

static void
list_grow(List *l, int need)
{
	int			cap;

	if (need <= l->max_length)
		return;
	cap = l->max_length * 2;
	while (cap < need)
		cap *= 2;
	if (l->elements == l->initial_elements)
	{
		ListCell   *cells = MemoryContextAlloc(GetMemoryChunkContext(l), cap * sizeof(ListCell));

		memcpy(cells, l->elements, l->length * sizeof(ListCell));
		l->elements = cells;
	}
	else
		l->elements = repalloc(l->elements, cap * sizeof(ListCell));
	l->max_length = cap;
}

List *
list_make1_impl(NodeTag t, ListCell datum1)
{
	List	   *l = list_new(t, 1);

	l->elements[0] = datum1;
	return l;
}

List *
list_make2_impl(NodeTag t, ListCell datum1, ListCell datum2)
{
	List	   *l = list_new(t, 2);

	l->elements[0] = datum1;
	l->elements[1] = datum2;
	return l;
}

List *
list_make3_impl(NodeTag t, ListCell datum1, ListCell datum2, ListCell datum3)
{
	List	   *l = list_new(t, 3);

	l->elements[0] = datum1;
	l->elements[1] = datum2;
	l->elements[2] = datum3;
	return l;
}

List *
lappend(List *list, void *datum)
{
	if (list == NIL)
		list = list_new(T_List, 0);
	else if (list->type != T_List)
		fuzz_fail("lappend to a list of type %d", (int) list->type);
	list_grow(list, list->length + 1);
	list->elements[list->length++].ptr_value = datum;
	return list;
}

List *
lcons(void *datum, List *list)
{
	if (list == NIL)
		list = list_new(T_List, 0);
	list_grow(list, list->length + 1);
	memmove(list->elements + 1, list->elements, list->length * sizeof(ListCell));
	list->elements[0].ptr_value = datum;
	list->length++;
	return list;
}

List *
list_concat(List *list1, const List *list2)
{
	int			n;

	if (list1 == NIL)
		return list_copy(list2);
	if (list2 == NIL)
		return list1;
	if (list1->type != list2->type)
		fuzz_fail("list_concat of lists of types %d and %d", (int) list1->type, (int) list2->type);
	n = list2->length;
	list_grow(list1, list1->length + n);
	memcpy(list1->elements + list1->length, list2->elements, n * sizeof(ListCell));
	list1->length += n;
	return list1;
}

List *
list_copy(const List *oldlist)
{
	List	   *l;

	if (oldlist == NIL)
		return NIL;
	l = list_new(oldlist->type, oldlist->length);
	memcpy(l->elements, oldlist->elements, oldlist->length * sizeof(ListCell));
	return l;
}

void
list_free(List *list)
{
	if (list == NIL)
		return;
	if (list->elements != list->initial_elements)
		pfree(list->elements);
	pfree(list);
}

List *
list_delete_first(List *list)
{
	if (list == NIL)
		return NIL;
	if (list->length == 1)
	{
		list_free(list);
		return NIL;
	}
	memmove(list->elements, list->elements + 1, (list->length - 1) * sizeof(ListCell));
	list->length--;
	return list;
}

/* list_sort: a stable insertion sort is plenty for fuzz-sized lists */
void
list_sort(List *list, list_sort_comparator cmp)
{
	int			i;

	if (list == NIL)
		return;
	for (i = 1; i < list->length; i++)
	{
		ListCell	cell = list->elements[i];
		int			j = i;

		while (j > 0 && cmp(&list->elements[j - 1], &cell) > 0)
		{
			list->elements[j] = list->elements[j - 1];
			j--;
		}
		list->elements[j] = cell;
	}
}

/* ---------------------------------------------------------------------
 * Time, files, randomness
 * ---------------------------------------------------------------------
 */

TimestampTz
GetCurrentTimestamp(void)
{
	struct timeval tp;

	gettimeofday(&tp, NULL);
	return (TimestampTz) (tp.tv_sec - ((POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)) *
		USECS_PER_SEC + tp.tv_usec;
}

bool
TimestampDifferenceExceeds(TimestampTz start_time, TimestampTz stop_time, int msec)
{
	return stop_time - start_time >= (TimestampTz) msec * 1000;
}

FILE *
AllocateFile(const char *name, const char *mode)
{
	return fopen(name, mode);
}

int
FreeFile(FILE *file)
{
	return fclose(file);
}

/* deterministic, so that a saved input replays the same way */
static uint64 fuzz_random_state = 0x9E3779B97F4A7C15ULL;

bool
pg_strong_random(void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		fuzz_random_state ^= fuzz_random_state << 13;
		fuzz_random_state ^= fuzz_random_state >> 7;
		fuzz_random_state ^= fuzz_random_state << 17;
		p[i] = (unsigned char) fuzz_random_state;
	}
	return true;
}

/* ---------------------------------------------------------------------
 * Never reached by the fuzzed paths
 * ---------------------------------------------------------------------
 */

Oid
GetUserId(void)
{
	return 10;
}

/* the fuzzed clients run with InvalidOid roles: no privilege decisions */
bool
superuser_arg(Oid roleid)
{
	return true;
}

char *
GetUserNameFromId(Oid roleid, bool noerr)
{
	return psprintf("role %u", roleid);
}

/* Latches: only http.c's real (renamed, never called) sleeping uses them. */
struct Latch *MyLatch = NULL;
static uint32 fuzz_wait_event_info = 0;
uint32	   *my_wait_event_info = &fuzz_wait_event_info;

int
WaitLatch(Latch *latch, int wakeEvents, long timeout, uint32 wait_event_info)
{
	elog(ERROR, "mini backend: WaitLatch is not available");
	return 0;
}

void
ResetLatch(Latch *latch)
{
}

ForeignTable *
GetForeignTable(Oid relid)
{
	elog(ERROR, "mini backend: GetForeignTable is not available");
	return NULL;
}

HTAB *
hash_create(const char *tabname, long nelem, const HASHCTL *info, int flags)
{
	elog(ERROR, "mini backend: hash_create is not available");
	return NULL;
}

void *
hash_search(HTAB *hashp, const void *keyPtr, HASHACTION action, bool *foundPtr)
{
	elog(ERROR, "mini backend: hash_search is not available");
	return NULL;
}

/* ---------------------------------------------------------------------
 * Helpers of the harnesses
 * ---------------------------------------------------------------------
 */

const char *
fuzz_split_control(const char *data, size_t len, char **control)
{
	const char *nl = memchr(data, '\n', len);
	size_t		n = nl ? (size_t) (nl - data) : len;

	*control = pnstrdup(data, n);
	return nl ? nl + 1 : data + len;
}

bool
fuzz_has_word(const char *control, const char *word)
{
	size_t		n = strlen(word);
	const char *p = control;

	while ((p = strstr(p, word)) != NULL)
	{
		if ((p == control || p[-1] == ' ') &&
			(p[n] == '\0' || p[n] == ' ' || p[n] == '='))
			return true;
		p += n;
	}
	return false;
}

/* well-formed UTF-8 (any code point, no overlong check needed here) */
bool
fuzz_valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;

	while (*p)
	{
		int			n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 :
			(*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 0;
		int			i;

		if (n == 0)
			return false;
		for (i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return false;
		p += n;
	}
	return true;
}

/*
 * Does data hold needle, ignoring ASCII case?  (A URL's host reaches
 * messages lower-cased, so a secret may be the input's text, folded.)
 */
bool
fuzz_memcasemem(const void *data, size_t size, const char *needle)
{
	size_t		n = strlen(needle);
	size_t		i;

	for (i = 0; n <= size && i <= size - n; i++)
		if (pg_strncasecmp((const char *) data + i, needle, n) == 0)
			return true;
	return false;
}

/* value of "key=value" in the control line, palloc'd, or NULL */
const char *
fuzz_word_value(const char *control, const char *key)
{
	size_t		n = strlen(key);
	const char *p = control;

	while ((p = strstr(p, key)) != NULL)
	{
		if ((p == control || p[-1] == ' ') && p[n] == '=')
		{
			const char *v = p + n + 1;
			const char *end = strchr(v, ' ');

			return pnstrdup(v, end ? (size_t) (end - v) : strlen(v));
		}
		p += n;
	}
	return NULL;
}
