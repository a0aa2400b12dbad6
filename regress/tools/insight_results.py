"""The four insight views as a BI tool reads them, and the comparison of two
readings that both pipeline engines must pass: counts and 12-decimal
percentages equal to the digit, averages and quartiles to 1e-9 relative.

Used by regress/integration/engine_bigquery.py and bench/engines.py.
Standard library only.
"""
import json

# each view's columns, by kind: key columns, exact columns, float columns
VIEWS = {
    "sellers_by_country": (["seller_country"], ["sellers", "listings", "share_pct"], []),
    "brand_prices": (["brand_name"], ["listings", "min_price", "max_price"],
                     ["avg_price", "p25", "median", "p75"]),
    "product_types_by_brand": (["brand_name", "product_type"], ["listings", "pct"], []),
    "sales_by_ship_interval": (["usually_ships_within"],
                               ["sold", "share_pct", "sell_through_pct", "listings"], []),
}


def snapshot(query_one):
    """The four views as text, keyed; query_one(sql) returns one value."""
    out = {}
    for view, (key, exact, floats) in VIEWS.items():
        cols = key + exact + floats
        rows = json.loads(query_one("SELECT coalesce(json_agg(json_build_array(%s)), '[]') FROM luxe.%s"
                                    % (", ".join("%s::text" % c for c in cols), view)))
        out[view] = {tuple(r[:len(key)]): r[len(key):] for r in rows}
        assert len(out[view]) == len(rows), "%s: duplicate keys" % view
    return out


def same_results(a, b):
    """Raise AssertionError unless snapshots a and b hold the same insights."""
    for view, (key, exact, floats) in VIEWS.items():
        x, y = a[view], b[view]
        assert x.keys() == y.keys(), "%s: keys differ: %r" % (view, sorted(x.keys() ^ y.keys())[:5])
        for k in x:
            for i, col in enumerate(exact + floats):
                u, v = x[k][i], y[k][i]
                if col in exact or u is None or v is None:
                    assert u == v, "%s %r %s: %r != %r" % (view, k, col, u, v)
                else:
                    fu, fv = float(u), float(v)
                    assert abs(fu - fv) <= 1e-9 * max(abs(fu), abs(fv), 1e-300), \
                        "%s %r %s: %r != %r" % (view, k, col, u, v)
