# luxe_fdw: foreign-data wrapper for CSV objects in Google Cloud Storage and
# BigQuery tables, with the Vestiaire pipeline built on them.
#
#   make            build the extension (PGXS)
#   make install    install it into the PostgreSQL that PG_CONFIG names
#   make test       install what is missing (apt), build, install, and run
#                   every test suite against a private cluster and the local
#                   emulator; ends with "N passed, M failed"
#   make demo       the same setup, then the pipeline on generated data
#   make installcheck   pg_regress only, against a running server where
#                   luxe_fdw is installed (PGHOST, PGPORT, PGUSER as for
#                   psql); it starts and stops the emulators itself

EXTENSION = luxe_fdw
MODULE_big = luxe_fdw
OBJS = \
	fdw/luxe_fdw.o \
	fdw/option.o \
	fdw/http.o \
	fdw/auth.o \
	fdw/google.o \
	fdw/gcs.o \
	fdw/gcs_plan.o \
	fdw/gcs_scan.o \
	fdw/gcs_modify.o \
	fdw/gcs_import.o \
	fdw/bigquery.o \
	fdw/bq_plan.o \
	fdw/bq_scan.o \
	fdw/bq_modify.o \
	fdw/bq_import.o \
	fdw/bq_values.o \
	fdw/deparse.o \
	fdw/csv.o \
	fdw/xact.o \
	fdw/functions.o \
	fdw/pipeline.o \
	fdw/aggregates.o \
	fdw/bulk_insert.o \
	fdw/recycle.o
DATA_built = luxe_fdw--0.1.sql
INSTALL_SQL = \
	fdw/install/00_fdw.sql \
	fdw/install/10_functions.sql \
	fdw/install/20_pipeline.sql \
	fdw/install/25_engine_bigquery.sql \
	fdw/install/30_schedule.sql \
	fdw/install/40_dashboard.sql
PGFILEDESC = "luxe_fdw - foreign-data wrapper for Google Cloud Storage and BigQuery"

REGRESS = $(shell sed -n 's/^test: *//p' regress/schedule 2>/dev/null | tr '\n' ' ')
REGRESS_OPTS = --load-extension=luxe_fdw

ifneq ($(wildcard /usr/lib/postgresql/15/bin/pg_config),)
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
else
PG_CONFIG ?= pg_config
endif

PG_CPPFLAGS = $(shell pkg-config --cflags libcurl jansson 2>/dev/null)
SHLIB_LINK = $(shell pkg-config --libs libcurl jansson 2>/dev/null || echo -lcurl -ljansson) -lcsv -lcrypto -lz
PG_CFLAGS = -Wall -Wmissing-prototypes -Wpointer-arith -Wendif-labels \
	-Wmissing-format-attribute -Wformat-security

# PGXS is needed for everything but the dependency step, which must run
# before the server headers exist on a fresh machine.
ifeq ($(filter deps,$(MAKECMDGOALS)),)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
PG_MAJOR := $(shell $(PG_CONFIG) --version | sed 's/^PostgreSQL \([0-9]*\).*/\1/')
ifneq ($(PG_MAJOR),15)
$(error luxe_fdw supports PostgreSQL 15; $(PG_CONFIG) is version $(PG_MAJOR))
endif
endif
endif

# installcheck runs pg_regress inside a wrapper that starts the emulators
# the SQL tests need, seeds them and stops them afterwards.
ifneq ($(PGXS),)
pg_regress_installcheck = bash $(CURDIR)/regress/tools/with-emulators.sh \
	$(top_builddir)/src/test/regress/pg_regress --inputdir=$(srcdir) \
	--bindir='$(bindir)' $(pg_regress_locale_flags) $(EXTRA_REGRESS_OPTS)
endif

# PGXS does not track headers: every object depends on all of ours.
HEADERS = $(wildcard fdw/*.h)
$(OBJS): $(HEADERS)

# The install script is assembled from one file per concern.
luxe_fdw--0.1.sql: $(INSTALL_SQL)
	cat $^ > $@

.PHONY: deps test demo bench sanitize fuzz

# Build and install with the compiler's lines in build.log, shown only if
# the build fails.
QUIET_BUILD = { $(MAKE) --no-print-directory all && $(MAKE) --no-print-directory install; } \
	>build.log 2>&1 || { cat build.log; echo "luxe_fdw: the build failed (build.log)" >&2; exit 1; }

# Debian packages the build and the tests need; installed only if missing.
deps:
	@bash regress/tools/install-deps.sh

test: deps
	@$(QUIET_BUILD)
	@bash regress/tools/run-tests.sh

demo: deps
	@$(QUIET_BUILD)
	@bash regress/tools/demo.sh

bench: deps
	@$(QUIET_BUILD)
	@bash bench/run.sh

# the SQL suite against a UBSan build under Valgrind (SUITES="pg_regress integration")
sanitize: deps
	@bash regress/tools/sanitize.sh $(SUITES)

# the libFuzzer harnesses, SECONDS per target (make test runs them briefly)
SECONDS ?= 300
fuzz: deps
	@bash regress/fuzz/run.sh $(SECONDS)
