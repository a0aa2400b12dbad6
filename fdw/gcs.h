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

#include "google.h"

/* A GCS client: the Google API client at the GCS endpoint. */
typedef struct LuxeGcsClient
{
	LuxeGoogleClient google;
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
typedef struct LuxeGcsUpload LuxeGcsUpload;

/* in gcs.c */
extern bool luxe_gcs_object_gzip(const LuxeGcsObject *o);
extern int64 luxe_gcs_object_range_size(const LuxeGcsObject *o, int64 range_size);
extern int	luxe_gcs_object_ranges(const LuxeGcsObject *o, int64 range_size);
extern void luxe_gcs_client_init(LuxeGcsClient *client, LuxeHttpStats *stats,
								 const LuxeServerOptions *server, Oid serverid,
								 Oid userid);
extern void luxe_gcs_parse_uri(const char *uri, char **bucket, char **object);
extern List *luxe_gcs_list_uri(LuxeGcsClient *client, const char *uri,
							   bool missing_ok);
extern LuxeGcsReader *luxe_gcs_open_stream(LuxeGcsClient *client,
										   LuxeGcsObject *object,
										   int64 content_offset);
extern LuxeGcsReader *luxe_gcs_open_window(LuxeGcsClient *client, LuxeGcsObject *object,
										   int64 offset, int64 limit);
extern LuxeHttpStream *luxe_gcs_prefetch(LuxeGcsClient *client, LuxeGcsObject *object);
extern LuxeGcsReader *luxe_gcs_open_prefetched(LuxeGcsClient *client,
											   LuxeGcsObject *object,
											   int64 content_offset,
											   LuxeHttpStream *prefetched);
extern ssize_t luxe_gcs_read(LuxeGcsReader *reader, const char **data);
extern void luxe_gcs_close_stream(LuxeGcsReader *reader);
extern char *luxe_gcs_object_uri(const LuxeGcsObject *object);
extern LuxeGcsUpload *luxe_gcs_upload_begin(LuxeGcsClient *client, const char *bucket,
											const char *name, const char *content_type,
											bool if_absent);
extern void luxe_gcs_upload_write(LuxeGcsUpload *upload, const char *data, size_t len);
extern LuxeGcsObject *luxe_gcs_upload_finish(LuxeGcsUpload *upload);
extern void luxe_gcs_upload_cancel(LuxeGcsUpload *upload);
extern char *luxe_gcs_upload_uri(const LuxeGcsUpload *upload);
extern void luxe_gcs_delete_object(LuxeGcsClient *client, const LuxeGcsObject *object);

#endif							/* LUXE_GCS_H */
