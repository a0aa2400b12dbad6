
--
-- The built-in dashboard: one self-contained HTML page with inline SVG.
--

CREATE FUNCTION luxe.html_escape(text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT replace(replace(replace(replace(replace($1, '&', '&amp;'), '<', '&lt;'),
                 '>', '&gt;'), '"', '&quot;'), '''', '&#39;')
$$;
COMMENT ON FUNCTION luxe.html_escape(text) IS 'escape text for HTML content and attributes';

CREATE FUNCTION luxe.fmt_count(bigint)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT to_char($1, 'FM999,999,999,990') $$;
COMMENT ON FUNCTION luxe.fmt_count(bigint) IS 'a count as the dashboard prints it (1,234)';

CREATE FUNCTION luxe.fmt_pct(numeric)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT to_char(round($1, 1), 'FM990.0') || '%' $$;
COMMENT ON FUNCTION luxe.fmt_pct(numeric) IS 'a percentage as the dashboard prints it (12.3%)';

CREATE FUNCTION luxe.fmt_usd(double precision)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT '$' || to_char(round($1::numeric, 2), 'FM999,999,990.00') $$;
COMMENT ON FUNCTION luxe.fmt_usd(double precision) IS 'a price as the dashboard prints it ($1,234.50)';

/*
 * dashboard_html: the four insights as one HTML page with inline SVG; no
 * script, no network, no external font.  top_n bounds the countries and
 * brands shown.
 */
CREATE FUNCTION luxe.dashboard_html(top_n integer DEFAULT 12)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  h text := '';
  svg text;
  r record;
  i integer;
  maxv double precision;
  total bigint;
  last record;
  palette text[] := ARRAY['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#9c755f'];
  types text[];
  x double precision;
  w double precision;
  k integer;
  nrows integer;
BEGIN
  -- only the insight views and luxe.last_refresh are read, so a read-only
  -- BI role with SELECT on them (README, BI tools) can draw the dashboard
  IF to_regclass('luxe.sellers_by_country') IS NULL THEN
    RAISE EXCEPTION 'the luxe pipeline is not set up'
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Call luxe.setup_pipeline(''your_source''::regclass) and CALL luxe.refresh_pipeline() first.';
  END IF;
  SELECT * INTO last FROM luxe.last_refresh;
  total := coalesce(last.rows_read, 0);     -- the rows the refresh loaded

  h := '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
    || '<title>luxe_fdw: second-hand luxury market insights</title><style>'
    || 'body{font-family:DejaVu Sans,Liberation Sans,Arial,sans-serif;margin:24px;color:#222;background:#fff}'
    || 'h1{font-size:24px;margin:0 0 4px}p.sub{color:#555;margin:0 0 16px}'
    || 'section{border:1px solid #ddd;border-radius:6px;padding:12px 16px;margin:0 0 18px;max-width:980px}'
    || 'h2{font-size:17px;margin:0 0 8px}svg text{font-size:12px;fill:#222}svg .muted{fill:#666}'
    || '</style></head><body>'
    || '<h1>Second-hand luxury market: Vestiaire Collective listings</h1>'
    || format('<p class="sub">%s listings%s. Computed in PostgreSQL by luxe_fdw.</p>',
              luxe.fmt_count(total),
              CASE WHEN last.run_id IS NULL THEN ''
                   ELSE ' · refreshed ' || to_char(last.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC' END);

  -- 1. sellers by country: horizontal bars
  SELECT max(sellers), count(*) INTO maxv, nrows
    FROM (SELECT sellers FROM luxe.sellers_by_country ORDER BY sellers DESC LIMIT top_n) t;
  svg := format('<svg role="img" aria-label="Sellers by country" width="940" height="%s" viewBox="0 0 940 %s">',
                24 * coalesce(nrows, 0) + 10, 24 * coalesce(nrows, 0) + 10);
  i := 0;
  FOR r IN SELECT * FROM luxe.sellers_by_country ORDER BY sellers DESC, seller_country LIMIT top_n LOOP
    w := CASE WHEN maxv > 0 THEN 520.0 * r.sellers / maxv ELSE 0 END;
    svg := svg || format('<text x="150" y="%s" text-anchor="end">%s</text>', 24 * i + 17,
                         luxe.html_escape(coalesce(r.seller_country, '(none)')))
               || format('<rect x="160" y="%s" width="%s" height="18" fill="#4e79a7"/>', 24 * i + 4, round(w::numeric, 1))
               || format('<text x="%s" y="%s">%s sellers · %s · %s listings</text>', round((166 + w)::numeric, 1), 24 * i + 17,
                         luxe.fmt_count(r.sellers), luxe.fmt_pct(r.share_pct), luxe.fmt_count(r.listings));
    i := i + 1;
  END LOOP;
  h := h || '<section><h2>1. Sellers by country</h2><p class="sub">Distinct sellers per country and the country''s share of all sellers (top '
         || top_n || ').</p>' || svg || '</svg></section>';

  -- 2. average brand price with spread: p25-p75 box, median tick, mean dot
  SELECT max(p75), count(*) INTO maxv, nrows
    FROM (SELECT p75 FROM luxe.brand_prices ORDER BY listings DESC LIMIT top_n) t;
  maxv := greatest(coalesce(maxv, 0) * 1.15, 1);
  svg := format('<svg role="img" aria-label="Average brand price" width="940" height="%s" viewBox="0 0 940 %s">',
                28 * coalesce(nrows, 0) + 30, 28 * coalesce(nrows, 0) + 30);
  i := 0;
  FOR r IN SELECT * FROM luxe.brand_prices ORDER BY listings DESC, brand_name LIMIT top_n LOOP
    svg := svg || format('<text x="150" y="%s" text-anchor="end">%s</text>', 28 * i + 19,
                         luxe.html_escape(coalesce(r.brand_name, '(none)')))
               || format('<line x1="160" x2="560" y1="%s" y2="%s" stroke="#eee"/>', 28 * i + 14, 28 * i + 14)
               || format('<rect x="%s" y="%s" width="%s" height="14" fill="#a0cbe8" stroke="#4e79a7"/>',
                         round((160 + 400 * least(r.p25, maxv) / maxv)::numeric, 1), 28 * i + 7,
                         round((400 * (least(r.p75, maxv) - least(r.p25, maxv)) / maxv)::numeric, 1))
               || format('<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="#222" stroke-width="2"/>',
                         round((160 + 400 * least(r.median, maxv) / maxv)::numeric, 1),
                         round((160 + 400 * least(r.median, maxv) / maxv)::numeric, 1), 28 * i + 5, 28 * i + 23)
               || format('<circle cx="%s" cy="%s" r="4" fill="#e15759"/>',
                         round((160 + 400 * least(r.avg_price, maxv) / maxv)::numeric, 1), 28 * i + 14)
               || format('<text x="575" y="%s">avg %s · median %s · %s listings</text>', 28 * i + 19,
                         luxe.fmt_usd(r.avg_price), luxe.fmt_usd(r.median), luxe.fmt_count(r.listings));
    i := i + 1;
  END LOOP;
  svg := svg || format('<text x="160" y="%s" class="muted">$0</text><text x="560" y="%s" class="muted" text-anchor="end">%s</text>',
                       28 * i + 20, 28 * i + 20, luxe.fmt_usd(maxv))
             || format('<text x="600" y="%s" class="muted">box: p25 to p75 · bar: median · dot: mean</text>', 28 * i + 20);
  h := h || '<section><h2>2. Average brand price</h2><p class="sub">Mean price (USD) of the brands with the most listings, with the spread of their prices.</p>'
         || svg || '</svg></section>';

  -- 3. product type % by brand: 100% stacked bars over the top brands
  SELECT array_agg(product_type ORDER BY n DESC, product_type) INTO types
    FROM (SELECT product_type, sum(listings) AS n FROM luxe.product_types_by_brand
           WHERE brand_name IN (SELECT brand_name FROM luxe.brand_prices ORDER BY listings DESC, brand_name LIMIT 8)
           GROUP BY product_type ORDER BY n DESC, product_type LIMIT 7) t;
  SELECT count(*) INTO nrows FROM (SELECT 1 FROM luxe.brand_prices LIMIT 8) t;
  svg := format('<svg role="img" aria-label="Product type share by brand" width="940" height="%s" viewBox="0 0 940 %s">',
                28 * nrows + 30 + 20 * (coalesce(array_length(types, 1), 0) + 1),
                28 * nrows + 30 + 20 * (coalesce(array_length(types, 1), 0) + 1));
  i := 0;
  FOR r IN SELECT brand_name, listings FROM luxe.brand_prices ORDER BY listings DESC, brand_name LIMIT 8 LOOP
    svg := svg || format('<text x="150" y="%s" text-anchor="end">%s</text>', 28 * i + 19,
                         luxe.html_escape(coalesce(r.brand_name, '(none)')));
    x := 160;
    FOR k IN 1 .. coalesce(array_length(types, 1), 0) + 1 LOOP
      SELECT coalesce(sum(pct), 0) INTO w FROM luxe.product_types_by_brand p
       WHERE p.brand_name IS NOT DISTINCT FROM r.brand_name
         AND CASE WHEN k <= coalesce(array_length(types, 1), 0) THEN p.product_type IS NOT DISTINCT FROM types[k]
                  ELSE (p.product_type IS NULL OR p.product_type <> ALL (types)) END;
      IF w > 0 THEN
        svg := svg || format('<rect x="%s" y="%s" width="%s" height="18" fill="%s"><title>%s: %s</title></rect>',
                             round(x::numeric, 1), 28 * i + 5, round((5.2 * w)::numeric, 1),
                             palette[1 + (k - 1) % 8],
                             luxe.html_escape(coalesce(types[k], 'other types')), luxe.fmt_pct(w::numeric));
        IF w >= 7 THEN
          svg := svg || format('<text x="%s" y="%s" style="fill:#fff">%s</text>',
                               round((x + 3)::numeric, 1), 28 * i + 18, luxe.fmt_pct(w::numeric));
        END IF;
        x := x + 5.2 * w;
      END IF;
    END LOOP;
    svg := svg || format('<text x="690" y="%s" class="muted">%s listings</text>', 28 * i + 19, luxe.fmt_count(r.listings));
    i := i + 1;
  END LOOP;
  FOR k IN 1 .. coalesce(array_length(types, 1), 0) + 1 LOOP
    svg := svg || format('<rect x="160" y="%s" width="12" height="12" fill="%s"/><text x="178" y="%s">%s</text>',
                         28 * i + 10 + 20 * (k - 1), palette[1 + (k - 1) % 8], 28 * i + 21 + 20 * (k - 1),
                         luxe.html_escape(coalesce(types[k], 'other types')));
  END LOOP;
  h := h || '<section><h2>3. Product type % by brand</h2><p class="sub">Share of each product type in the listings of the eight biggest brands.</p>'
         || svg || '</svg></section>';

  -- 4. sales % by shipping interval: vertical bars, one 150 px slot each;
  -- the labels under a bar are on three lines, each narrower than its slot,
  -- so that neighbours never overlap (dashboard_check.py measures them)
  SELECT max(share_pct), count(*) INTO maxv, nrows FROM luxe.sales_by_ship_interval;
  svg := format('<svg role="img" aria-label="Sales by shipping interval" width="%s" height="300" viewBox="0 0 %s 300">',
                40 + 150 * greatest(nrows, 1), 40 + 150 * greatest(nrows, 1));
  i := 0;
  FOR r IN SELECT * FROM luxe.sales_by_ship_interval ORDER BY bucket_order, usually_ships_within LOOP
    w := CASE WHEN maxv > 0 THEN 200.0 * coalesce(r.share_pct, 0) / maxv ELSE 0 END;
    svg := svg || format('<rect x="%s" y="%s" width="100" height="%s" fill="#59a14f"/>',
                         45 + 150 * i, round((226 - w)::numeric, 1), round(w::numeric, 1))
               || format('<text x="%s" y="%s" text-anchor="middle">%s of sales</text>',
                         95 + 150 * i, round((220 - w)::numeric, 1), coalesce(luxe.fmt_pct(r.share_pct), 'n/a'))
               || format('<text x="%s" y="246" text-anchor="middle">%s</text>', 95 + 150 * i,
                         luxe.html_escape(r.usually_ships_within))
               || format('<text x="%s" y="264" text-anchor="middle" class="muted">%s sold</text>',
                         95 + 150 * i, luxe.fmt_count(r.sold))
               || format('<text x="%s" y="280" text-anchor="middle" class="muted">sell-through %s</text>',
                         95 + 150 * i, coalesce(luxe.fmt_pct(r.sell_through_pct), 'n/a'));
    i := i + 1;
  END LOOP;
  h := h || '<section><h2>4. Sales % by shipping interval</h2><p class="sub">Share of all sold listings per "usually ships within" bucket, and each bucket''s sell-through rate.</p>'
         || svg || '</svg></section>';

  RETURN h || '</body></html>';
END
$$;
COMMENT ON FUNCTION luxe.dashboard_html(integer)
IS 'the four insights as one self-contained HTML page (inline SVG, no scripts, no network)';
