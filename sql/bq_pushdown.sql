--
-- BigQuery pushdown: every query runs twice, against the foreign table
-- (shipped to BigQuery as far as it can be) and against a local copy of the
-- same rows; the results must be the same.  EXPLAIN VERBOSE shows what was
-- shipped.  The emulator was seeded by regress/fixtures/fixtures_bq.py.
--
\getenv emulator_url LUXE_EMULATOR_URL
\getenv bq_local_sql LUXE_BQ_LOCAL_SQL
CREATE SERVER regress_bqp FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'bigquery', endpoint :'emulator_url', project 'luxe-regress');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_bqp OPTIONS (auth 'none');
CREATE SCHEMA bqp;
IMPORT FOREIGN SCHEMA regress LIMIT TO (items, sellers) FROM SERVER regress_bqp INTO bqp;
SET search_path = bqp, public;
-- statistics tell the planner that grouping reduces the rows
ANALYZE items;
ANALYZE sellers;
-- local copies of the same rows, made from the fixture values themselves
-- (regress/fixtures/fixtures_bq.py), not read through luxe_fdw
\set ECHO none
\i :bq_local_sql
\set ECHO all
SELECT count(*) FROM items_local;

-- same(q): q on the foreign tables equals q on the local copies, row for row
-- (in order when q has ORDER BY, as a multiset otherwise)
CREATE FUNCTION same(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  ql text := replace(replace(q, 'items', 'items_local'), 'sellers', 'sellers_local');
  remote text[];
  local text[];
  ordered boolean := q ~* 'order by';
BEGIN
  EXECUTE format('SELECT array_agg(t::text %s) FROM (%s) t', CASE WHEN ordered THEN '' ELSE 'ORDER BY t::text' END, q) INTO remote;
  EXECUTE format('SELECT array_agg(t::text %s) FROM (%s) t', CASE WHEN ordered THEN '' ELSE 'ORDER BY t::text' END, ql) INTO local;
  IF remote IS NOT DISTINCT FROM local THEN
    RETURN 'same, ' || coalesce(cardinality(remote), 0) || ' rows';
  END IF;
  RETURN format('DIFFERENT: remote %s local %s', remote, local);
END $$;
-- remote(q): the Remote SQL line(s) of q's plan
CREATE FUNCTION remote(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP
    IF l ~ 'Remote SQL|Filter|Sort Key|Join Filter|Group Key' THEN RETURN NEXT btrim(l); END IF;
  END LOOP;
END $$;

-- the FDW reads exactly those rows, with pushdown and without
SELECT same('SELECT * FROM items'), same('SELECT * FROM sellers');
ALTER SERVER regress_bqp OPTIONS (ADD pushdown 'false');
SELECT same('SELECT * FROM items'), same('SELECT * FROM sellers');
ALTER SERVER regress_bqp OPTIONS (DROP pushdown);

CREATE TABLE queries (n serial, q text);
INSERT INTO queries (q) VALUES
  -- projection and WHERE
  ('SELECT id, name FROM items WHERE id = 3'),
  ('SELECT id FROM items WHERE qty > 4 AND category = ''Bags'''),
  ('SELECT id FROM items WHERE qty < 3 OR sold'),
  ('SELECT id FROM items WHERE NOT sold'),
  ('SELECT id FROM items WHERE sold IS NOT TRUE'),
  ('SELECT id FROM items WHERE name IS NULL OR category IS NULL'),
  ('SELECT id FROM items WHERE id IN (1, 5, 9, 40)'),
  ('SELECT id FROM items WHERE id NOT IN (1, 5, 9, 40) AND qty IS NOT NULL'),
  ('SELECT id FROM items WHERE category IN (''Bags'', ''Shoes'')'),
  ('SELECT id FROM items WHERE name LIKE ''%e%'''),
  ('SELECT id FROM items WHERE name LIKE ''50\%%'''),
  ('SELECT id FROM items WHERE name NOT LIKE ''B%'''),
  ('SELECT id FROM items WHERE qty BETWEEN 2 AND 5'),
  ('SELECT id FROM items WHERE lower(category) = ''bags'''),
  ('SELECT id FROM items WHERE upper(name) = ''KELLY'''),
  ('SELECT id FROM items WHERE btrim(name) = ''Tank'''),
  ('SELECT id FROM items WHERE coalesce(category, ''none'') = ''none'''),
  ('SELECT id FROM items WHERE qty * 2 + 1 > 10'),
  ('SELECT id FROM items WHERE id / 7 = 2'),
  ('SELECT id FROM items WHERE id % 5 = 0'),
  ('SELECT id FROM items WHERE name || category = ''KellyShoes'''),
  ('SELECT id FROM items WHERE amount > 500'),
  ('SELECT id FROM items WHERE amount > 500.0000000001 OR amount < -12345678901234567890123456789012'),
  ('SELECT id FROM items WHERE day >= ''2024-06-01'' AND day < ''2024-09-01'''),
  ('SELECT id FROM items WHERE at > ''2024-03-15 00:00:00+00'''),
  ('SELECT id FROM items WHERE length(name) = 4'),
  ('SELECT id FROM items WHERE qty::bigint = 3'),
  ('SELECT id FROM items WHERE price > 100'),
  ('SELECT id FROM items WHERE CASE WHEN qty > 5 THEN ''hi'' ELSE ''lo'' END = ''hi'''),
  -- ORDER BY, LIMIT, OFFSET
  ('SELECT id, name FROM items ORDER BY name, id'),
  ('SELECT id, name FROM items ORDER BY name DESC NULLS LAST, id'),
  ('SELECT id, price FROM items ORDER BY price DESC, id LIMIT 5'),
  ('SELECT id FROM items ORDER BY id LIMIT 5 OFFSET 10'),
  ('SELECT id, qty FROM items ORDER BY qty NULLS FIRST, id'),
  -- aggregates
  ('SELECT count(*) FROM items'),
  ('SELECT count(*), count(name), count(DISTINCT category), sum(qty), min(qty), max(qty) FROM items'),
  ('SELECT category, count(*), sum(qty), min(name), max(name) FROM items GROUP BY category ORDER BY category'),
  ('SELECT category, round(avg(price)::numeric, 6), min(price), max(price), sum(price) FROM items GROUP BY category ORDER BY category'),
  ('SELECT category, count(*) FILTER (WHERE sold), sum(qty) FILTER (WHERE qty > 2) FROM items GROUP BY 1 ORDER BY 1'),
  ('SELECT category, count(*) FROM items GROUP BY category HAVING count(*) > 6 ORDER BY 2 DESC, 1'),
  ('SELECT sold, bool_and(qty > 0), bool_or(qty > 8) FROM items GROUP BY sold ORDER BY sold'),
  ('SELECT lower(category) AS c, count(*) FROM items GROUP BY lower(category) ORDER BY c'),
  ('SELECT sum(amount), min(amount), max(amount) FROM items'),
  ('SELECT avg(qty) FROM items'),
  ('SELECT category, count(*) FROM items WHERE qty > 1 GROUP BY category ORDER BY count(*) DESC, category LIMIT 2'),
  ('SELECT coalesce(category, ''none'') AS c, count(*) FILTER (WHERE sold), count(*) FROM items GROUP BY 1 ORDER BY 1'),
  ('SELECT coalesce(category, ''none''), sum(qty) FROM items GROUP BY coalesce(category, ''none'') HAVING sum(qty) > 10 ORDER BY 2 DESC, 1'),
  -- joins
  ('SELECT i.id, s.seller_name FROM items i JOIN sellers s ON i.seller_id = s.seller_id ORDER BY i.id'),
  ('SELECT i.id, s.country FROM items i LEFT JOIN sellers s ON i.seller_id = s.seller_id WHERE i.qty > 3 ORDER BY i.id'),
  ('SELECT s.seller_id, i.id FROM items i RIGHT JOIN sellers s ON i.seller_id = s.seller_id ORDER BY 1, 2'),
  ('SELECT i.id, s.seller_id FROM items i FULL JOIN sellers s ON i.seller_id = s.seller_id ORDER BY 1, 2'),
  ('SELECT s.country, count(*), sum(i.qty) FROM items i JOIN sellers s ON i.seller_id = s.seller_id GROUP BY s.country ORDER BY 1');
SELECT n, same(q) FROM queries ORDER BY n;
-- what was shipped
SELECT n, remote(q) FROM queries ORDER BY n;

-- parameters of a prepared statement travel as query parameters
PREPARE p(int, text) AS SELECT id, name FROM items WHERE qty = $1 AND category = $2 ORDER BY id;
EXECUTE p(3, 'bags');
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE p(3, 'bags');
DEALLOCATE p;
-- a value that would be SQL is only ever a parameter
SELECT id FROM items WHERE name = 'x'' OR TRUE OR ''';

-- pushdown off: nothing is shipped, not even the column list
ALTER SERVER regress_bqp OPTIONS (ADD pushdown 'false');
SELECT remote('SELECT category, count(*) FROM items WHERE qty > 1 GROUP BY category ORDER BY 1 LIMIT 2');
SELECT same('SELECT category, count(*) FROM items WHERE qty > 1 GROUP BY category ORDER BY 1 LIMIT 2');
ALTER SERVER regress_bqp OPTIONS (DROP pushdown);

RESET search_path;
DROP SCHEMA bqp CASCADE;
DROP SERVER regress_bqp CASCADE;
