--
-- C functions and aggregates against their plain-SQL equivalents:
-- NULLs, empty input, non-ASCII text, and forced parallel plans.
--
CREATE TABLE agg_data AS
  SELECT i,
         CASE WHEN i % 97 = 0 THEN NULL ELSE (i * 7919) % 5003 END::bigint AS v,
         CASE WHEN i % 89 = 0 THEN NULL ELSE ((i * 2654435761) % 100000) / 100.0 END::float8 AS price,
         CASE WHEN i % 83 = 0 THEN NULL ELSE i % 3 = 0 END AS flag,
         i % 7 AS grp
    FROM generate_series(1, 60000) i;
ANALYZE agg_data;

-- squish vs regexp_replace over ASCII whitespace (SQL has no \v escape: chr(11))
CREATE FUNCTION sql_squish(x text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT regexp_replace(btrim(x, E' \t\n\r\f' || chr(11)), '[' || E' \t\n\r\f' || chr(11) || ']+', ' ', 'g')
$$;
SELECT luxe.squish(x) AS squished, sql_squish(x) AS sql
  FROM (VALUES (E'  Leather\t\tbag \n\r\n with  strap  '), (''), ('   '), (NULL),
               ('Zoë –  “quoted”   日本'), ('no-op'), (chr(11) || E'x\fy' || chr(11))) t(x);
SELECT count(*) FILTER (WHERE luxe.squish(x) IS DISTINCT FROM sql_squish(x)) AS differences
  FROM (SELECT repeat(chr(32 + (i % 3) * 0) || E'a\t b  ' || chr(9 + i % 5) || 'é ', i % 5) AS x
          FROM generate_series(1, 2000) i) t;
-- squish skips clean text eight bytes at a time: every whitespace run (and
-- control bytes it must keep) at every offset across two word boundaries
SELECT count(*) FILTER (WHERE luxe.squish(x) IS DISTINCT FROM sql_squish(x)) AS differences, count(*)
  FROM (SELECT repeat('ab', p) || w || repeat('é', q) || w2 || 'z' AS x
          FROM generate_series(0, 12) p, generate_series(0, 12) q,
               unnest(ARRAY[' ', '  ', E'\t', E' \n', E'\r\n', ' x ', chr(1), chr(8) || ' ', chr(14), '   ']) w,
               unnest(ARRAY['', ' ', '  ', chr(11), ' ' || chr(12)]) w2) t;

-- lower_trim vs lower(btrim())
SELECT x, luxe.lower_trim(x), lower(btrim(x)) = luxe.lower_trim(x) AS same
  FROM (VALUES ('  Louis VUITTON '), ('HERMÈS'), (''), ('   '), (NULL), (E'\tTab kept\t'), ('ÉCOLE  ')) t(x);

-- pct: the share helper of the percentage columns
SELECT luxe.pct(1, 3), luxe.pct(2, 3), luxe.pct(0, 5), luxe.pct(5, 0), luxe.pct(-1, 3), luxe.pct(7, -8);
SELECT luxe.pct(NULL, 3), luxe.pct(3, NULL), luxe.pct(9223372036854775807, 9223372036854775807);
-- ties at the 13th decimal round away from zero (1/8e12 of 100 is 1.25e-11)
SELECT luxe.pct(1, 8000000000000), luxe.pct(-1, 8000000000000), luxe.pct(3, 8000000000000);
SELECT grp, luxe.pct(count(*) FILTER (WHERE flag), count(flag)) AS c,
       round(100.0 * count(*) FILTER (WHERE flag) / nullif(count(flag), 0), 12) AS sql
  FROM agg_data GROUP BY grp ORDER BY grp;

-- distinct_count vs count(DISTINCT)
SELECT grp, luxe.distinct_count(v) AS c, count(DISTINCT v) AS sql FROM agg_data GROUP BY grp ORDER BY grp;
SELECT luxe.distinct_count(v) FROM agg_data WHERE false;
SELECT luxe.distinct_count(x) FROM (VALUES (NULL::bigint), (NULL)) t(x);
SELECT luxe.distinct_count(x), count(DISTINCT x)
  FROM (VALUES (-9223372036854775808), (-9223372036854775808), (0), (9223372036854775807), (NULL)) t(x);

-- price_summary vs avg/percentile_cont/min/max
SELECT grp, (s).listings = n AND (s).min = mn AND (s).p25 = q[1] AND (s).median = q[2]
            AND (s).p75 = q[3] AND (s).max = mx AS same
  FROM (SELECT grp, luxe.price_summary(price) AS s, count(price) AS n, avg(price) AS mean,
               min(price) AS mn, max(price) AS mx,
               percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY price) AS q
          FROM agg_data GROUP BY grp) t
 ORDER BY grp;
-- (the mean may differ in the last bits: compare it to 1e-12)
SELECT bool_and(abs((s).mean - mean) <= 1e-12 * abs(mean)) AS means_close
  FROM (SELECT luxe.price_summary(price) AS s, avg(price) AS mean FROM agg_data GROUP BY grp) t;
SELECT (luxe.price_summary(x)).* FROM (VALUES (1.0::float8), (2), (3), (4), (NULL)) t(x);
SELECT (luxe.price_summary(x)).* FROM (VALUES (5.5::float8)) t(x);
SELECT luxe.price_summary(x) IS NULL AS empty FROM (VALUES (NULL::float8)) t(x);
SELECT luxe.price_summary(price) IS NULL AS empty FROM agg_data WHERE false;
SELECT (luxe.price_summary(x)).* FROM (VALUES ('NaN'::float8), (1), (2)) t(x);
SELECT percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY x), avg(x), max(x) FROM (VALUES ('NaN'::float8), (1), (2)) t(x);

-- value_counts: the packed counts of the counted insight, against GROUP BY
CREATE TABLE vc_data AS
  SELECT i % 7 AS grp,
         CASE WHEN i % 31 = 0 THEN NULL WHEN i % 11 = 0 THEN 'Hermès ' || i % 13 || repeat('é', i % 40)
              ELSE 'type ' || (i * 7919) % 997 END AS t,
         (i % 5) - 1 AS w
    FROM generate_series(1, 60000) i;
CREATE FUNCTION vc_differences(q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  EXECUTE format('WITH got AS (SELECT grp, u.t, u.n FROM (%s) g, unnest((g.vc).items, (g.vc).counts) u(t, n)),
                  want AS (SELECT grp, t, sum(w) AS n FROM vc_data GROUP BY 1, 2 HAVING sum(w) <> 0)
                  SELECT (SELECT count(*) FROM (SELECT * FROM got EXCEPT ALL SELECT * FROM want) a)
                       + (SELECT count(*) FROM (SELECT * FROM want EXCEPT ALL SELECT * FROM got) b)', q) INTO n;
  RETURN n;
END $$;
-- (groups of a thousand values, some summing to zero: none of those may show)
SELECT vc_differences('SELECT grp, luxe.value_counts(t, w) AS vc FROM vc_data GROUP BY grp') AS differences,
       (SELECT count(*) FROM (SELECT grp, t FROM vc_data GROUP BY 1, 2 HAVING sum(w) = 0) z) AS zero_sums;
-- in the order first seen; NULL is a value; zero sums and NULL weights left out
SELECT (luxe.value_counts(x, w)).* FROM (VALUES ('b', 1), ('a', 1), (NULL, 1), ('b', 1), ('', 1), ('c', NULL)) t(x, w);
SELECT (luxe.value_counts(x, w)).* FROM (VALUES ('a', 1), ('b', 2), ('a', -1), ('b', -3)) t(x, w);
SELECT (luxe.value_counts(x, w)).* FROM (VALUES ('a', 1), ('a', -1)) t(x, w);
SELECT luxe.value_counts(x, 1) IS NULL AS empty FROM (VALUES ('a')) t(x) WHERE false;
SELECT luxe.value_counts(x, w) FROM (VALUES ('a', 9223372036854775807), ('a', 1)) t(x, w);  -- ERROR
CREATE COLLATION vc_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
SELECT luxe.value_counts(x COLLATE vc_ci, 1) FROM (VALUES ('a'), ('A')) t(x);  -- ERROR
DROP COLLATION vc_ci;

-- Partial aggregation in parallel workers runs the combine, serial and
-- deserial functions: the C aggregates alone (count(DISTINCT) and
-- percentile_cont are never aggregated in parallel), compared with their
-- serial results, and the plan must really have used workers.
CREATE TABLE agg_serial AS
  SELECT grp, luxe.distinct_count(v) AS dc, luxe.price_summary(price) AS ps
    FROM agg_data GROUP BY grp
  UNION ALL
  SELECT NULL, luxe.distinct_count(v), luxe.price_summary(price) FROM agg_data;
CREATE FUNCTION parallel_plan(q text) RETURNS TABLE (partial_aggregate boolean, workers_launched int)
LANGUAGE plpgsql AS $$
DECLARE
  plan jsonb;
BEGIN
  EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, FORMAT JSON) ' || q INTO plan;
  RETURN QUERY SELECT jsonb_path_exists(plan, '$.** ? (@."Partial Mode" == "Partial")'),
                      (SELECT max((x->>'Workers Launched')::int)
                         FROM jsonb_path_query(plan, 'strict $.**') x
                        WHERE jsonb_typeof(x) = 'object' AND x ? 'Workers Launched');
END $$;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SET enable_hashagg = off;
EXPLAIN (COSTS OFF)
SELECT grp, luxe.distinct_count(v), luxe.price_summary(price) FROM agg_data GROUP BY grp;
-- the parallel results are kept by the very execution whose plan is checked
SELECT * FROM parallel_plan('CREATE TABLE agg_parallel AS
  SELECT grp, luxe.distinct_count(v) AS dc, luxe.price_summary(price) AS ps FROM agg_data GROUP BY grp');
SELECT * FROM parallel_plan('CREATE TABLE agg_parallel_all AS
  SELECT NULL::integer AS grp, luxe.distinct_count(v) AS dc, luxe.price_summary(price) AS ps FROM agg_data');
SELECT * FROM parallel_plan('CREATE TABLE vc_parallel AS
  SELECT grp, luxe.value_counts(t, w) AS vc FROM vc_data GROUP BY grp');
SELECT vc_differences('SELECT * FROM vc_parallel') AS parallel_differences;
SELECT p.grp, p.dc = s.dc AS distinct_same,
       (p.ps).listings = (s.ps).listings AND (p.ps).min = (s.ps).min AND (p.ps).p25 = (s.ps).p25
         AND (p.ps).median = (s.ps).median AND (p.ps).p75 = (s.ps).p75 AND (p.ps).max = (s.ps).max AS summary_same,
       abs((p.ps).mean - (s.ps).mean) <= 1e-12 * abs((s.ps).mean) AS mean_close
  FROM (SELECT * FROM agg_parallel UNION ALL SELECT * FROM agg_parallel_all) p
  JOIN agg_serial s ON s.grp IS NOT DISTINCT FROM p.grp
 ORDER BY p.grp;
RESET ALL;
DROP FUNCTION parallel_plan(text);
DROP TABLE agg_serial, agg_parallel, agg_parallel_all, vc_parallel, vc_data;
DROP FUNCTION vc_differences(text);

DROP TABLE agg_data;
DROP FUNCTION sql_squish(text);
