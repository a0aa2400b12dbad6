/*-------------------------------------------------------------------------
 *
 * gcs.h
 *		  Google Cloud Storage JSON API: listing, metadata and
 *		  generation-pinned streaming reads.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/gcs.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LUXE_GCS_H
#define LUXE_GCS_H

#include "http.h"
#include "option.h"

typedef struct LuxeGcsClient
{
	LuxeHttpConfig http;
	LuxeHttpStats *stats;
	char	   *endpoint;		/* e.g. https://storage.googleapis.com */
	const LuxeServerOptions *server;
	const LuxeAuthOptions *auth;	/* secrets: never printed */
} LuxeGcsClient;

typedef struct LuxeGcsObject
{
	char	   *bucket;
	char	   *name;
	int64		size;
	int64		generation;
	char	   *content_encoding;	/* NULL for identity */
	char	   *crc32c;			/* base64, may be NULL */
	char	   *updated;		/* RFC 3339, may be NULL */
} LuxeGcsObject;

typedef struct LuxeGcsReader LuxeGcsReader;

/* in gcs.c */
extern void luxe_gcs_parse_uri(const char *uri, char **bucket, char **object);
extern List *luxe_gcs_list_uri(LuxeGcsClient *client, const char *uri,
							   bool missing_ok);
extern LuxeGcsReader *luxe_gcs_open_stream(LuxeGcsClient *client,
										   LuxeGcsObject *object);
extern ssize_t luxe_gcs_read(LuxeGcsReader *reader, const char **data);
extern void luxe_gcs_close_stream(LuxeGcsReader *reader);
extern char *luxe_gcs_object_uri(const LuxeGcsObject *object);

#endif							/* LUXE_GCS_H */
