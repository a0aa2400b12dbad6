#!/usr/bin/env python3
"""
pandas_pipeline.py -- the luxe pipeline done the way an analyst would in
pandas, as a yardstick for luxe_fdw's SQL pipeline.

  /usr/bin/python3 bench/pandas_pipeline.py CSV [--json OUT]

Reads the CSV with read_csv, applies the cleaning rules of
the pipeline's rules to the whole DataFrame (all 36 columns kept, like the
original Spark job that wrote the full cleaned table), computes the four
dashboard insights with groupby, and prints

  pandas: read X.XXX s, clean X.XXX s, insights X.XXX s, total X.XXX s, peak RSS N MB

With --json OUT it also writes the insights and the cleaned-table checks
in the JSON shape of regress/tools/pipeline_reference.py (computed after the
timings, so they do not count), for
  regress/tools/pipeline_reference.py compare REF.json --psql-json OUT

Only empty fields are missing (keep_default_na=False): pandas' default
would also turn the text "NA", "None", "null", ... into NaN.

Needs pandas (Debian python3-pandas; use /usr/bin/python3).

Copyright (c) 2026, luxe_fdw authors

IDENTIFICATION bench/pandas_pipeline.py
"""

import argparse
import json
import math
import os
import resource
import sys
import time

import pandas as pd

TEXT_COLS = ["product_type", "product_name", "product_description",
             "product_keywords", "product_gender_target", "product_category",
             "product_season", "product_condition", "brand_id", "brand_name",
             "brand_url", "product_material", "product_color", "seller_badge",
             "warehouse_name", "seller_username", "usually_ships_within",
             "seller_country"]
INT_COLS = ["product_id", "seller_id"]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "regress", "tools"))
from vestiaire_schema import (ASCII_WS, BOOL_COLS, BRAND_COLS, FLOAT_COLS,  # noqa: E402
                              LOWER_TRIM_COLS, SHIP_ORDER)

DTYPES = {c: object for c in TEXT_COLS}
DTYPES.update({c: "int64" for c in INT_COLS})
DTYPES.update({c: "float64" for c in FLOAT_COLS})
DTYPES.update({c: "boolean" for c in BOOL_COLS})


def read(path):
    return pd.read_csv(path, dtype=DTYPES, keep_default_na=False,
                       na_values=[""], encoding="utf-8")


def clean(df):
    """The cleaning rules, in place, on the full DataFrame."""
    for c in FLOAT_COLS:
        df[c] = df[c].fillna(0.0)
    for c in BOOL_COLS:
        df[c] = df[c].fillna(False).astype(bool)
    for c in LOWER_TRIM_COLS:
        df[c] = df[c].str.strip(" ").str.lower()
    # explicit ASCII set: str.strip() and \s would also take Unicode spaces
    df["product_description"] = (df["product_description"]
                                 .str.strip(ASCII_WS)
                                 .str.replace(r"[ \t\n\r\f\v]+", " ", regex=True))
    for c in BRAND_COLS:
        df[c] = df[c].fillna("unknown")
    return df


def insights(df):
    g = df.groupby("seller_country", dropna=False)
    sbc = pd.DataFrame({"sellers": g["seller_id"].nunique(), "listings": g.size()})
    sbc["share_pct"] = 100.0 * sbc["sellers"] / sbc["sellers"].sum()

    g = df.groupby("brand_name", dropna=False)["price_usd"]
    bp = g.agg(listings="size", avg_price="mean", min_price="min",
               max_price="max")
    q = g.quantile([0.25, 0.5, 0.75], interpolation="linear").unstack()
    bp["p25"], bp["median"], bp["p75"] = q[0.25], q[0.5], q[0.75]
    bp = bp[["listings", "avg_price", "p25", "median", "p75", "min_price",
             "max_price"]]

    pt = df.groupby(["brand_name", "product_type"], dropna=False).size()
    pt = pt.rename("listings").to_frame()
    brand_total = bp["listings"].reindex(pt.index.get_level_values(0)).to_numpy()
    pt["pct"] = 100.0 * pt["listings"] / brand_total

    bucket = df["usually_ships_within"].fillna("unknown")
    g = df["sold"].groupby(bucket)
    ss = pd.DataFrame({"sold": g.sum(), "listings": g.size()})
    total_sold = ss["sold"].sum()
    ss["share_pct"] = 100.0 * ss["sold"] / total_sold if total_sold else math.nan
    ss["sell_through_pct"] = 100.0 * ss["sold"] / ss["listings"]
    order = [b for b in SHIP_ORDER if b in ss.index] + \
        sorted(b for b in ss.index if b not in SHIP_ORDER)
    ss = ss.loc[order, ["sold", "share_pct", "sell_through_pct", "listings"]]
    return {"sellers_by_country": sbc, "brand_prices": bp,
            "product_types_by_brand": pt, "sales_by_ship_interval": ss}


# ---------------------------------------------------------------------------
# JSON in pipeline_reference.py's shape

def plain(v):
    """numpy scalar / NaN -> JSON-able Python value."""
    if v is None or v is pd.NA:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def frame_rows(frame):
    names = list(frame.index.names)
    out = []
    for idx, row in zip(frame.index, frame.itertuples(index=False)):
        keys = idx if isinstance(idx, tuple) else (idx,)
        d = {n: plain(k) for n, k in zip(names, keys)}
        d.update({c: plain(v) for c, v in zip(frame.columns, row)})
        out.append(d)
    return out


def cleaned_checks(df):
    def chars(c):
        s = df[c]
        return int(s.str.len().sum()) if s.notna().any() else None

    def nulls(c):
        return int(df[c].isna().sum())

    ck = {"rows": len(df), "description_nulls": nulls("product_description"),
          "description_chars": chars("product_description")}
    for c in LOWER_TRIM_COLS:
        ck[c + "_distinct"] = int(df[c].nunique())
        ck[c + "_chars"] = chars(c)
        ck[c + "_nulls"] = nulls(c)
    for c in BRAND_COLS:
        ck[c + "_unknown"] = int((df[c] == "unknown").sum())
    ck["brand_id_distinct"] = int(df["brand_id"].nunique())
    ck["brand_url_chars"] = chars("brand_url")
    ck["filled_nulls"] = int(df[FLOAT_COLS + BOOL_COLS].isna().any(axis=1).sum())
    for c in FLOAT_COLS:
        ck["sum_" + c] = float(df[c].sum())
    for c in BOOL_COLS:
        ck["true_" + c] = int(df[c].sum())
    ck["product_name_chars"] = chars("product_name")
    ck["product_keywords_chars"] = chars("product_keywords")
    ck["seller_username_chars"] = chars("seller_username")
    for c in ["product_type", "product_season", "seller_badge", "warehouse_name"]:
        ck[c + "_distinct"] = int(df[c].nunique())
    ck["usually_ships_within_nulls"] = nulls("usually_ships_within")
    ck["seller_id_distinct"] = int(df["seller_id"].nunique())
    ck["sum_product_id"] = int(df["product_id"].sum())
    ck["sum_seller_id"] = int(df["seller_id"].sum())
    return ck


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    ap.add_argument("csv")
    ap.add_argument("--json", metavar="OUT",
                    help="also write the results as pipeline_reference.py JSON")
    a = ap.parse_args()

    t0 = time.perf_counter()
    df = read(a.csv)
    t1 = time.perf_counter()
    df = clean(df)
    t2 = time.perf_counter()
    res = insights(df)
    t3 = time.perf_counter()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("pandas: read %.3f s, clean %.3f s, insights %.3f s, total %.3f s, "
          "peak RSS %d MB" % (t1 - t0, t2 - t1, t3 - t2, t3 - t0, round(rss_mb)),
          flush=True)

    if a.json:
        doc = {"rows": len(df), "cleaned_checks": cleaned_checks(df)}
        for name, frame in res.items():
            doc[name] = frame_rows(frame)
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
