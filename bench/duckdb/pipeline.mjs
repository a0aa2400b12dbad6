// pipeline.mjs -- DuckDB as the speed peer of the luxe_fdw pipeline.
//
//   node bench/duckdb/pipeline.mjs --csv FILE [--db FILE.duckdb] [--threads 2]
//        --step count|brand_avg|pipeline|insights [--out RESULT.json]
//        [--checks CHECKS.json] [--db-mode fresh|replace]
//
// Steps
//   count      SELECT count(*) over the raw CSV.
//   brand_avg  SELECT brand_name, avg(price_usd) ... GROUP BY 1 over the raw
//              CSV (raw brand_name, no cleaning).
//   pipeline   read_csv + the cleaning rules into table listings of --db
//              (a fresh file: an existing DuckDB file there is replaced;
//              with --db-mode replace, the tables of an existing database
//              are replaced instead, as a scheduled pipeline does),
//              CHECKPOINT, then the four insight tables, CHECKPOINT.
//   insights   only the four insight tables, over the listings table that
//              an earlier `pipeline` left in --db.
//
// Prints one JSON line on stdout: the step, DuckDB's version, the threads,
// the rows, and wall-clock seconds per phase measured here around each
// statement ("total_seconds" is their sum; opening the database is
// reported apart as "open_seconds").  --out receives the results: for
// pipeline and insights a document shaped like pipeline_reference.py's
// GOT.json ({"rows", the four views' rows; "cleaned_checks" too with
// --checks}), so `pipeline_reference.py compare REF.json --psql-json OUT`
// checks it; counts are JSON integers, averages and percentiles JSON
// numbers (shortest round-trip), percentages strings with 12 decimals.
//
// Design assumptions and invariants
// * The CSV is read as luxe_fdw reads it: RFC 4180 with a header row, ','
//   and '"' (doubled to escape), quoted line breaks; an unquoted empty
//   field is NULL, a quoted "" the empty string (allow_quoted_nulls =
//   false); the 36 columns and their types come from
//   regress/tools/vestiaire_schema.py (bigint, text, float8, boolean), so there
//   is no sniffing and no type detection.  DuckDB still detects the record
//   terminator (LF or CRLF, as libcsv accepts both): forcing new_line to
//   '\n' made it return no rows at all for a CRLF file.  Header names are
//   checked here, since DuckDB ignores them once the columns are given.
// * Cleaning is luxe.cleaning_select (fdw/install/20_pipeline.sql) with the
//   semantics of fdw/aggregates.c: luxe.lower_trim strips only spaces
//   (0x20) then lower-cases; luxe.squish trims [\t\n\v\f\r ] and collapses
//   each inner run of them to one space (bytes; no Unicode spaces);
//   float8 -> bigint rounds half to even (round_even, as PostgreSQL's
//   rint).  DuckDB's lower() is Unicode-aware, PostgreSQL's lower() follows
//   the collation (C.UTF-8 in the tests): they agree on ASCII and on the
//   generator's data (its non-ASCII letters are all lower case).
// * Percentages are luxe.pct: 100 * part / whole rounded half away from
//   zero to 12 decimals, NULL for a zero whole, computed exactly in
//   HUGEINT and stored as DECIMAL(18,12).  Parts and wholes are counts,
//   so never negative.  Percentiles are quantile_cont (= percentile_cont).
//
// Copyright (c) 2026, luxe_fdw authors
//
// IDENTIFICATION bench/duckdb/pipeline.mjs

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { DuckDBInstance } from '@duckdb/node-api';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SCHEMA_PY = path.join(HERE, '..', '..', 'regress', 'tools', 'vestiaire_schema.py');
const STEPS = ['count', 'brand_avg', 'pipeline', 'insights'];
const DUCK_TYPES = { bigint: 'BIGINT', text: 'VARCHAR', float8: 'DOUBLE', boolean: 'BOOLEAN' };

// The cleaning rules of luxe.cleaning_select, by column.
const FILL_FLOAT = ['price_usd', 'seller_price', 'seller_earning', 'buyers_fees', 'seller_pass_rate'];
const FILL_BIGINT = ['product_like_count', 'seller_products_sold', 'seller_num_products_listed',
  'seller_community_rank', 'seller_num_followers'];
const FILL_FALSE = ['sold', 'reserved', 'available', 'in_stock', 'should_be_gone', 'has_cross_border_fees'];
const LOWER_TRIM = ['product_condition', 'product_gender_target', 'seller_country', 'product_material',
  'product_color', 'product_category'];
const SHIP_BUCKETS = ['1-2 days', '3-5 days', '6-7 days', 'More than 7 days', 'unknown'];

// Columns of each insight in --out, as pipeline_reference.py's VIEW_COLUMNS.
const VIEW_COLUMNS = {
  sellers_by_country: ['seller_country', 'sellers', 'listings', 'share_pct'],
  brand_prices: ['brand_name', 'listings', 'avg_price', 'p25', 'median', 'p75', 'min_price', 'max_price'],
  product_types_by_brand: ['brand_name', 'product_type', 'listings', 'pct'],
  sales_by_ship_interval: ['usually_ships_within', 'sold', 'share_pct', 'sell_through_pct', 'listings'],
};
const PCT_COLUMNS = new Set(['share_pct', 'pct', 'sell_through_pct']);

function die(msg) {
  process.stderr.write(`pipeline.mjs: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const a = { threads: 2 };
  const names = { '--csv': 'csv', '--db': 'db', '--threads': 'threads', '--step': 'step',
    '--out': 'out', '--checks': 'checks', '--db-mode': 'dbMode' };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '-h' || argv[i] === '--help') {
      process.stdout.write(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8')
        .split('// Design assumptions')[0].split('\n').filter((l) => l.startsWith('//'))
        .map((l) => l.slice(3)).join('\n') + '\n');
      process.exit(0);
    }
    const key = names[argv[i]];
    if (!key || i + 1 >= argv.length) die(`bad argument ${JSON.stringify(argv[i])} (see --help)`);
    a[key] = argv[++i];
  }
  a.threads = Number(a.threads);
  if (!Number.isInteger(a.threads) || a.threads < 1) die('--threads must be a positive integer');
  if (!STEPS.includes(a.step)) die(`--step must be one of ${STEPS.join(', ')}`);
  if (a.step !== 'insights' && !a.csv) die('--csv FILE is required');
  if ((a.step === 'pipeline' || a.step === 'insights') && !a.db) die('--db FILE.duckdb is required');
  if (a.checks && a.step !== 'pipeline' && a.step !== 'insights') die('--checks needs --step pipeline or insights');
  a.dbMode = a.dbMode || 'fresh';
  if (!['fresh', 'replace'].includes(a.dbMode)) die('--db-mode must be fresh or replace');
  return a;
}

// The 36 (name, type) pairs of regress/tools/vestiaire_schema.py's COLUMNS.
function rawColumns() {
  const text = fs.readFileSync(SCHEMA_PY, 'utf8');
  const block = text.slice(text.indexOf('\nCOLUMNS = ['), text.indexOf('\n]', text.indexOf('\nCOLUMNS = [')));
  const cols = [...block.matchAll(/\("([a-z_]+)", "([a-z0-9]+)"\)/g)].map((m) => [m[1], m[2]]);
  if (cols.length !== 36 || cols.some(([, t]) => !DUCK_TYPES[t])) {
    die(`could not read the 36 columns from ${SCHEMA_PY}`);
  }
  return cols;
}

function sqlString(s) {
  return "'" + String(s).replaceAll("'", "''") + "'";
}

function ident(s) {
  return '"' + s.replaceAll('"', '""') + '"';
}

function readCsvSql(csv, cols) {
  const spec = cols.map(([n, t]) => `${sqlString(n)}: ${sqlString(DUCK_TYPES[t])}`).join(', ');
  return `read_csv(${sqlString(csv)}, columns = {${spec}}, header = true, delim = ',', ` +
    `quote = '"', escape = '"', nullstr = '', allow_quoted_nulls = false, auto_detect = false, ` +
    `strict_mode = true, null_padding = false, ignore_errors = false, encoding = 'utf-8')`;
}

// Header check: DuckDB does not compare the names with `columns`.
function checkHeader(csv, cols) {
  const fd = fs.openSync(csv, 'r');
  const buf = Buffer.alloc(65536);
  const n = fs.readSync(fd, buf, 0, buf.length, 0);
  fs.closeSync(fd);
  const line = buf.subarray(0, n).toString('utf8').split(/\r?\n/, 1)[0];
  const want = cols.map(([name]) => name).join(',');
  if (line !== want) die(`${csv}: header is not the 36 Vestiaire columns`);
}

// luxe.squish as trim(regexp_replace(x, RUN, ' ', 'g'), ' '), RUN matching
// only what must change -- a run of two or more of [\t\n\v\f\r ] or one
// of them that is not a space -- so single spaces are not replaced one by
// one (2.5x faster than '[\x09-\x0D\x20]+', same result).
const SQUISH_RUN = "'[\\x09-\\x0D\\x20]{2,}|[\\x09-\\x0D]'";

function cleaningSql(cols) {
  const sq = SQUISH_RUN;
  return cols.map(([n]) => {
    const c = ident(n);
    let e;
    if (FILL_FLOAT.includes(n)) e = `coalesce(${c}, 0.0)`;
    else if (FILL_BIGINT.includes(n)) e = `CAST(round_even(coalesce(${c}, 0), 0) AS BIGINT)`;
    else if (FILL_FALSE.includes(n)) e = `coalesce(${c}, false)`;
    else if (LOWER_TRIM.includes(n)) e = `lower(trim(${c}, ' '))`;
    else if (n === 'brand_name') e = `coalesce(lower(trim(${c}, ' ')), 'unknown')`;
    else if (n === 'brand_id') e = `coalesce(CAST(${c} AS VARCHAR), 'unknown')`;
    else if (n === 'brand_url') e = `coalesce(${c}, 'unknown')`;
    else if (n === 'product_description') e = `trim(regexp_replace(${c}, ${sq}, ' ', 'g'), ' ')`;
    else e = c;
    return `${e} AS ${c}`;
  }).join(',\n  ');
}

const PCT_MACRO = `CREATE OR REPLACE TEMP MACRO luxe_pct(part, whole) AS
  CASE WHEN whole = 0 THEN NULL
       ELSE CAST(CAST((CAST(part AS HUGEINT) * 200000000000000 + whole) // (2 * CAST(whole AS HUGEINT))
                      AS DECIMAL(18, 0)) * 0.000000000001 AS DECIMAL(18, 12)) END`;

const BUCKET_ORDER = 'CASE bucket ' +
  SHIP_BUCKETS.map((b, i) => `WHEN ${sqlString(b)} THEN ${i + 1}`).join(' ') + ' ELSE 6 END';

// The four materialized views of fdw/install/20_pipeline.sql.
const INSIGHTS = {
  sellers_by_country: `
    SELECT seller_country, sellers, listings,
           luxe_pct(sellers, CAST(sum(sellers) OVER () AS BIGINT)) AS share_pct
      FROM (SELECT seller_country, count(DISTINCT seller_id) AS sellers, count(*) AS listings
              FROM listings GROUP BY seller_country) s`,
  brand_prices: `
    SELECT brand_name, listings, avg_price, q[1] AS p25, q[2] AS median, q[3] AS p75,
           min_price, max_price
      FROM (SELECT brand_name, count(*) AS listings, avg(price_usd) AS avg_price,
                   quantile_cont(price_usd, [0.25, 0.5, 0.75]) AS q,
                   min(price_usd) AS min_price, max(price_usd) AS max_price
              FROM listings GROUP BY brand_name) b`,
  product_types_by_brand: `
    SELECT brand_name, product_type, count(*) AS listings,
           luxe_pct(count(*), CAST(sum(count(*)) OVER (PARTITION BY brand_name) AS BIGINT)) AS pct
      FROM listings GROUP BY brand_name, product_type`,
  sales_by_ship_interval: `
    SELECT bucket AS usually_ships_within, sold,
           luxe_pct(sold, CAST(sum(sold) OVER () AS BIGINT)) AS share_pct,
           sell_through_pct, listings, ${BUCKET_ORDER} AS bucket_order
      FROM (SELECT coalesce(usually_ships_within, 'unknown') AS bucket,
                   count(*) FILTER (WHERE sold) AS sold,
                   luxe_pct(count(*) FILTER (WHERE sold), count(*)) AS sell_through_pct,
                   count(*) AS listings
              FROM listings GROUP BY 1) s`,
};
const INSIGHT_ORDER = {
  sellers_by_country: 'seller_country',
  brand_prices: 'brand_name',
  product_types_by_brand: 'brand_name, product_type',
  sales_by_ship_interval: 'bucket_order, usually_ships_within',
};

// A DuckDB value as JSON: integers as numbers while exact, DECIMAL as its
// exact decimal string, doubles as numbers.
function jsonValue(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') {
    return (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)) ? Number(v) : v.toString();
  }
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
  return v.toString();
}

async function rows(con, sql) {
  const reader = await con.runAndReadAll(sql);
  const names = reader.columnNames();
  return reader.getRows().map((r) => Object.fromEntries(r.map((v, i) => [names[i], jsonValue(v)])));
}

async function timed(seconds, key, fn) {
  const t0 = performance.now();
  const r = await fn();
  seconds[key] = (performance.now() - t0) / 1000;
  return r;
}

// Remove an earlier DuckDB database (and its WAL) at `db`, refusing to
// touch anything that is not one.
function freshDatabase(db) {
  if (!fs.existsSync(db)) {
    fs.rmSync(db + '.wal', { force: true });
    return;
  }
  const fd = fs.openSync(db, 'r');
  const head = Buffer.alloc(16);
  fs.readSync(fd, head, 0, 16, 0);
  fs.closeSync(fd);
  if (head.subarray(8, 12).toString('latin1') !== 'DUCK') die(`${db} exists and is not a DuckDB database`);
  fs.rmSync(db);
  fs.rmSync(db + '.wal', { force: true });
}

async function insights(con, seconds) {
  await con.run(PCT_MACRO);
  for (const name of Object.keys(INSIGHTS)) {
    await timed(seconds, name, () => con.run(`CREATE OR REPLACE TABLE ${name} AS ${INSIGHTS[name]}`));
  }
  await timed(seconds, 'insights_checkpoint', () => con.run('CHECKPOINT'));
}

async function document(con, checksFile) {
  const doc = { rows: jsonValue((await rows(con, 'SELECT count(*) AS n FROM listings'))[0].n) };
  if (checksFile) {
    const checks = JSON.parse(fs.readFileSync(checksFile, 'utf8'));
    const sql = 'SELECT ' + checks.map(([n, e]) => `${e} AS ${ident(n)}`).join(', ') + ' FROM listings';
    doc.cleaned_checks = (await rows(con, sql))[0];
  }
  for (const name of Object.keys(INSIGHTS)) {
    const cols = VIEW_COLUMNS[name].map((c) => (PCT_COLUMNS.has(c) ? `CAST(${c} AS VARCHAR) AS ${c}` : c));
    doc[name] = await rows(con, `SELECT ${cols.join(', ')} FROM ${name} ORDER BY ${INSIGHT_ORDER[name]}`);
  }
  return doc;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const cols = rawColumns();
  if (a.csv) checkHeader(a.csv, cols);
  if (a.step === 'pipeline' && a.dbMode === 'fresh') freshDatabase(a.db);
  if (a.step === 'insights' && !fs.existsSync(a.db)) die(`${a.db} does not exist (run --step pipeline first)`);

  const seconds = {};
  const t0 = performance.now();
  const instance = await DuckDBInstance.create(a.db || ':memory:', { threads: String(a.threads) });
  const con = await instance.connect();
  const openSeconds = (performance.now() - t0) / 1000;
  const version = (await rows(con, 'SELECT version() AS v'))[0].v;
  const line = { step: a.step, engine: 'duckdb', version, threads: a.threads };
  let out = null;

  if (a.step === 'count') {
    const r = await timed(seconds, 'count', () => rows(con, `SELECT count(*) AS n FROM ${readCsvSql(a.csv, cols)}`));
    line.rows = r[0].n;
    out = { count: r[0].n };
  } else if (a.step === 'brand_avg') {
    const r = await timed(seconds, 'brand_avg', () => rows(con,
      `SELECT brand_name, avg(price_usd) AS avg_price FROM ${readCsvSql(a.csv, cols)} GROUP BY 1`));
    line.groups = r.length;
    out = { brand_avg: r };
  } else {
    if (a.step === 'pipeline') {
      await timed(seconds, 'load', () => con.run(
        `CREATE OR REPLACE TABLE listings AS SELECT\n  ${cleaningSql(cols)}\nFROM ${readCsvSql(a.csv, cols)}`));
      await timed(seconds, 'checkpoint', () => con.run('CHECKPOINT'));
      seconds.read_clean_persist = seconds.load + seconds.checkpoint;
    } else if (!(await rows(con, "SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'listings'"))[0].n) {
      die(`${a.db} has no listings table (run --step pipeline first)`);
    }
    await insights(con, seconds);
    out = await document(con, a.checks);
    line.rows = out.rows;
  }
  const parts = Object.entries(seconds).filter(([k]) => !['load', 'checkpoint'].includes(k));
  line.seconds = Object.fromEntries(Object.entries(seconds).map(([k, v]) => [k, Number(v.toFixed(6))]));
  line.total_seconds = Number(parts.reduce((s, [, v]) => s + v, 0).toFixed(6));
  line.open_seconds = Number(openSeconds.toFixed(6));
  if (a.out) fs.writeFileSync(a.out, JSON.stringify(out) + '\n');
  con.closeSync();
  instance.closeSync?.();
  process.stdout.write(JSON.stringify(line) + '\n');
}

main().catch((e) => die(e && e.message ? e.message : String(e)));
