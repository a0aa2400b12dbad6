/*-------------------------------------------------------------------------
 *
 * fake_option.c
 *		  The parts of option.c that the API clients call, without the
 *		  catalogs: a harness sets the server and user-mapping options of
 *		  its input directly.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  regress/fuzz/fake_option.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fuzz_common.h"
#include "http.h"
#include "option.h"

/* The user mapping's credentials of the current input. */
LuxeAuthOptions fuzz_auth_options;

/* Server options as option.c resolves them by default, at endpoint. */
void
fuzz_server_options(LuxeServerOptions *server, LuxeService service,
					const char *endpoint)
{
	memset(server, 0, sizeof(*server));
	server->servername = "fuzz";
	server->service = service;
	server->endpoint = pstrdup(endpoint);
	server->max_retries = 2;
	server->retry_max_delay_ms = 32000;
	server->retry_initial_delay_ms = 1000;
	server->connect_timeout_ms = 10000;
	server->request_timeout_ms = 300000;
	server->project = "fuzz-project";
	server->pushdown = true;
	server->batch_size = 500;
	server->write_method = LUXE_WRITE_AUTO;
}

void
luxe_option_auth(const LuxeServerOptions *server, Oid serverid, Oid userid,
				 LuxeAuthOptions *opts)
{
	*opts = fuzz_auth_options;
	opts->token = fuzz_auth_options.token ? pstrdup(fuzz_auth_options.token) : NULL;
	opts->key_json = fuzz_auth_options.key_json ? pstrdup(fuzz_auth_options.key_json) : NULL;
	opts->key_file = fuzz_auth_options.key_file ? pstrdup(fuzz_auth_options.key_file) : NULL;
	opts->scopes = pstrdup(fuzz_auth_options.scopes ? fuzz_auth_options.scopes :
						   "https://www.googleapis.com/auth/cloud-platform");
}

char *
luxe_option_gcs_endpoint(const LuxeServerOptions *server)
{
	return pstrdup(server->endpoint);
}

void
luxe_option_http_config(const LuxeServerOptions *server, LuxeHttpConfig *cfg)
{
	cfg->max_retries = server->max_retries;
	cfg->retry_max_delay_ms = server->retry_max_delay_ms;
	cfg->retry_initial_delay_ms = server->retry_initial_delay_ms;
	cfg->connect_timeout_ms = server->connect_timeout_ms;
	cfg->request_timeout_ms = server->request_timeout_ms;
	cfg->service_name = server->service == LUXE_SERVICE_BIGQUERY ? "BigQuery" : "GCS";
}

/* Reached only through luxe_bq_table_rows, which needs the catalogs. */
void
luxe_option_server(Oid serverid, LuxeServerOptions *opts)
{
	elog(ERROR, "fake option.c: luxe_option_server is not available");
}

void
luxe_option_bq_table(Oid relid, const LuxeServerOptions *server,
					 LuxeBqTableOptions *opts)
{
	elog(ERROR, "fake option.c: luxe_option_bq_table is not available");
}
