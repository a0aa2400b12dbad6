"""The Vestiaire listings schema and cleaning rules, shared by the Python
tools (integration tests, the sqlite3 reference, the pandas baseline, the
generator checks), so that they cannot drift apart.

COLUMNS lists the 36 columns in file order with the PostgreSQL type the
raw foreign table uses (pandas' float64 columns are float8).
"""

COLUMNS = [
    ("product_id", "bigint"), ("product_type", "text"), ("product_name", "text"),
    ("product_description", "text"), ("product_keywords", "text"),
    ("product_gender_target", "text"), ("product_category", "text"),
    ("product_season", "text"), ("product_condition", "text"),
    ("product_like_count", "float8"), ("sold", "boolean"), ("reserved", "boolean"),
    ("available", "boolean"), ("in_stock", "boolean"), ("should_be_gone", "boolean"),
    ("brand_id", "bigint"), ("brand_name", "text"), ("brand_url", "text"),
    ("product_material", "text"), ("product_color", "text"), ("price_usd", "float8"),
    ("seller_price", "float8"), ("seller_earning", "float8"), ("seller_badge", "text"),
    ("has_cross_border_fees", "boolean"), ("buyers_fees", "float8"),
    ("warehouse_name", "text"), ("seller_id", "bigint"), ("seller_username", "text"),
    ("usually_ships_within", "text"), ("seller_country", "text"),
    ("seller_products_sold", "float8"), ("seller_num_products_listed", "float8"),
    ("seller_community_rank", "float8"), ("seller_num_followers", "float8"),
    ("seller_pass_rate", "float8"),
]
COLUMN_NAMES = [name for name, _ in COLUMNS]
COLDEFS = ", ".join("%s %s" % c for c in COLUMNS)

# cleaning rules (README, "The pipeline")
FLOAT_COLS = ["product_like_count", "price_usd", "seller_price",
              "seller_earning", "buyers_fees", "seller_products_sold",
              "seller_num_products_listed", "seller_community_rank",
              "seller_num_followers", "seller_pass_rate"]
BOOL_COLS = ["sold", "reserved", "available", "in_stock", "should_be_gone",
             "has_cross_border_fees"]
LOWER_TRIM_COLS = ["product_condition", "product_gender_target",
                   "seller_country", "product_material", "product_color",
                   "brand_name", "product_category"]
BRAND_COLS = ["brand_id", "brand_name", "brand_url"]
SHIP_ORDER = ["1-2 days", "3-5 days", "6-7 days", "More than 7 days", "unknown"]
ASCII_WS = " \t\n\r\f\v"
