"""The SQL models write for an orders / customers / products schema, with data to run it on.

Each query is written the way Gemini and other models write SQL: DuckDB and
PostgreSQL habits included. ``run_corpus`` runs every query through
``chat.sql`` and through DuckDB (a test-only oracle) over the same frames and
compares the results. ``python -m tests.dialect.corpus`` prints the tally.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from decimal import Decimal
from typing import Any

import polars as pl


def tables(seed: int = 7) -> dict[str, pl.DataFrame]:
    """Three related tables with NULLs, ties and a few edge values."""
    rng = random.Random(seed)
    countries = ["US", "DE", "FR", "BR", "JP", None]
    segments = ["consumer", "corporate", "home office"]
    customers = pl.DataFrame(
        {
            "customer_id": list(range(1, 61)),
            "name": [f"Customer {i:02d}" for i in range(1, 61)],
            "email": [
                f"c{i}@{rng.choice(['example.com', 'mail.org', 'shop.net'])}" for i in range(1, 61)
            ],
            "country": [rng.choice(countries) for _ in range(60)],
            "segment": [rng.choice(segments) for _ in range(60)],
            "signup_date": [
                dt.date(2022, 1, 1) + dt.timedelta(days=rng.randrange(900)) for _ in range(60)
            ],
        }
    )
    categories = ["Books", "Electronics", "Garden", "Toys"]
    products = pl.DataFrame(
        {
            "product_id": list(range(1, 31)),
            "product_name": [f"Product {i}" for i in range(1, 31)],
            "category": [categories[i % 4] for i in range(30)],
            "price": [round(rng.uniform(2, 400), 2) for _ in range(30)],
            "tags": [
                ",".join(rng.sample(["new", "sale", "eco", "gift"], rng.randint(1, 3)))
                for _ in range(30)
            ],
            "in_stock": [rng.random() > 0.2 for _ in range(30)],
        }
    )
    n = 800
    order_dates = [dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(700)) for _ in range(n)]
    orders = pl.DataFrame(
        {
            "order_id": list(range(1, n + 1)),
            "customer_id": [rng.randint(1, 62) for _ in range(n)],  # 61, 62 have no customer
            "product_id": [rng.randint(1, 30) for _ in range(n)],
            "order_date": order_dates,
            "shipped_at": [
                None
                if rng.random() < 0.1
                else dt.datetime.combine(d, dt.time())
                + dt.timedelta(hours=rng.randrange(24 * 9), minutes=rng.randrange(60))
                for d in order_dates
            ],
            "status": [
                rng.choice(["shipped", "pending", "cancelled", "returned", "shipped"])
                for _ in range(n)
            ],
            "quantity": [rng.randint(1, 8) for _ in range(n)],
            "amount": [
                round(rng.choice([rng.uniform(5, 900), 0.8125, 2.5, 12.345]), 4) for _ in range(n)
            ],
            "discount": [
                None if rng.random() < 0.3 else round(rng.choice([0.05, 0.1, 0.15, 0.2]), 2)
                for _ in range(n)
            ],
            "coupon": [rng.choice([None, None, "SAVE10", "WELCOME", "VIP-2024"]) for _ in range(n)],
        }
    )
    return {"orders": orders, "customers": customers, "products": products}


# (name, sql). Queries without ORDER BY are compared as multisets of rows.
QUERIES: list[tuple[str, str]] = [
    # -- plain aggregates and joins (already worked) --
    ("count_rows", "SELECT COUNT(*) AS n FROM orders"),
    ("count_star_name", "SELECT count(*) FROM orders"),
    ("count_star_grouped", "SELECT status, count(*) FROM orders GROUP BY status ORDER BY status"),
    (
        "revenue_by_status",
        "SELECT status, SUM(amount) AS revenue FROM orders GROUP BY status ORDER BY revenue DESC",
    ),
    ("avg_order", "SELECT AVG(amount) AS avg_amount FROM orders"),
    (
        "top_customers",
        "SELECT c.name, SUM(o.amount) AS total FROM orders o JOIN customers c ON o.customer_id = c.customer_id GROUP BY c.name ORDER BY total DESC LIMIT 10",
    ),
    (
        "left_join_missing",
        "SELECT o.order_id FROM orders o LEFT JOIN customers c ON o.customer_id = c.customer_id WHERE c.customer_id IS NULL ORDER BY o.order_id",
    ),
    (
        "category_revenue",
        "SELECT p.category, SUM(o.quantity * p.price) AS revenue FROM orders o JOIN products p USING (product_id) GROUP BY p.category ORDER BY p.category",
    ),
    ("distinct_countries", "SELECT COUNT(DISTINCT country) AS countries FROM customers"),
    (
        "having",
        "SELECT customer_id, COUNT(*) AS orders FROM orders GROUP BY customer_id HAVING COUNT(*) > 15 ORDER BY customer_id",
    ),
    (
        "cte",
        "WITH per_customer AS (SELECT customer_id, SUM(amount) AS total FROM orders GROUP BY customer_id) SELECT AVG(total) AS avg_total FROM per_customer",
    ),
    (
        "case_buckets",
        "SELECT CASE WHEN amount < 100 THEN 'small' WHEN amount < 500 THEN 'medium' ELSE 'large' END AS bucket, COUNT(*) AS n FROM orders GROUP BY bucket ORDER BY bucket",
    ),
    ("filter_in", "SELECT COUNT(*) AS n FROM orders WHERE status IN ('shipped', 'returned')"),
    ("like", "SELECT COUNT(*) AS n FROM customers WHERE email LIKE '%@example.com'"),
    ("ilike", "SELECT COUNT(*) AS n FROM products WHERE product_name ILIKE 'product 1%'"),
    (
        "between_dates",
        "SELECT COUNT(*) AS n FROM orders WHERE order_date BETWEEN DATE '2023-03-01' AND DATE '2023-03-31'",
    ),
    ("string_literal_date", "SELECT COUNT(*) AS n FROM orders WHERE order_date >= '2024-01-01'"),
    ("coalesce", "SELECT SUM(COALESCE(discount, 0)) AS total_discount FROM orders"),
    ("nullif", "SELECT SUM(amount) / NULLIF(COUNT(*), 0) AS avg_amount FROM orders"),
    (
        "subquery_in",
        "SELECT COUNT(*) AS n FROM orders WHERE customer_id IN (SELECT customer_id FROM customers WHERE country = 'US')",
    ),
    (
        "exists",
        "SELECT COUNT(*) AS n FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.customer_id AND o.status = 'returned')",
    ),
    (
        "scalar_subquery",
        "SELECT order_id, amount FROM orders WHERE amount > (SELECT AVG(amount) FROM orders) ORDER BY amount DESC, order_id LIMIT 5",
    ),
    (
        "union_all",
        "SELECT 'orders' AS t, COUNT(*) AS n FROM orders UNION ALL SELECT 'customers' AS t, COUNT(*) AS n FROM customers",
    ),
    (
        "row_number_top",
        "SELECT * FROM (SELECT customer_id, order_id, amount, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY amount DESC, order_id) AS rn FROM orders) WHERE rn = 1 ORDER BY customer_id",
    ),
    (
        "running_total",
        "SELECT order_date, SUM(amount) OVER (ORDER BY order_date, order_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running FROM orders ORDER BY order_date, order_id LIMIT 20",
    ),
    (
        "lag",
        "SELECT order_id, amount - LAG(amount) OVER (ORDER BY order_id) AS delta FROM orders ORDER BY order_id LIMIT 20",
    ),
    (
        "rank",
        "SELECT product_id, SUM(quantity) AS units, RANK() OVER (ORDER BY SUM(quantity) DESC) AS rnk FROM orders GROUP BY product_id ORDER BY rnk, product_id",
    ),
    (
        "ntile",
        "SELECT order_id, NTILE(4) OVER (ORDER BY amount, order_id) AS quartile FROM orders ORDER BY order_id LIMIT 30",
    ),
    (
        "moving_avg_rows",
        "SELECT order_id, AVG(amount) OVER (ORDER BY order_id ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS ma FROM orders ORDER BY order_id LIMIT 30",
    ),
    (
        "share_of_total",
        "SELECT status, SUM(amount) / SUM(SUM(amount)) OVER () AS share FROM orders GROUP BY status ORDER BY status",
    ),
    (
        "extract_year",
        "SELECT EXTRACT(YEAR FROM order_date) AS yr, COUNT(*) AS n FROM orders GROUP BY yr ORDER BY yr",
    ),
    (
        "date_trunc_month",
        "SELECT DATE_TRUNC('month', order_date) AS month, SUM(amount) AS revenue FROM orders GROUP BY month ORDER BY month",
    ),
    (
        "strftime_month",
        "SELECT STRFTIME(order_date, '%Y-%m') AS ym, COUNT(*) AS n FROM orders GROUP BY ym ORDER BY ym",
    ),
    (
        "date_part",
        "SELECT DATE_PART('quarter', order_date) AS q, COUNT(*) AS n FROM orders GROUP BY q ORDER BY q",
    ),
    (
        "year_month_fns",
        "SELECT YEAR(order_date) AS y, MONTH(order_date) AS m, COUNT(*) AS n FROM orders GROUP BY y, m ORDER BY y, m",
    ),
    (
        "dow",
        "SELECT EXTRACT(DOW FROM order_date) AS dow, COUNT(*) AS n FROM orders GROUP BY dow ORDER BY dow",
    ),
    (
        "interval_add",
        "SELECT COUNT(*) AS n FROM orders WHERE order_date < DATE '2023-01-01' + INTERVAL '3 months'",
    ),
    (
        "cast_date",
        "SELECT CAST(shipped_at AS DATE) AS ship_day, COUNT(*) AS n FROM orders WHERE shipped_at IS NOT NULL GROUP BY ship_day ORDER BY ship_day LIMIT 10",
    ),
    (
        "colon_cast_date",
        "SELECT shipped_at::date AS ship_day FROM orders WHERE shipped_at IS NOT NULL ORDER BY order_id LIMIT 10",
    ),
    (
        "string_concat",
        "SELECT name || ' <' || email || '>' AS contact FROM customers ORDER BY customer_id LIMIT 5",
    ),
    (
        "split_part",
        "SELECT SPLIT_PART(email, '@', 2) AS domain, COUNT(*) AS n FROM customers GROUP BY domain ORDER BY domain",
    ),
    (
        "upper_lower",
        "SELECT UPPER(segment) AS seg, LOWER(country) AS c FROM customers ORDER BY customer_id LIMIT 5",
    ),
    (
        "length",
        "SELECT LENGTH(product_name) AS len, COUNT(*) AS n FROM products GROUP BY len ORDER BY len",
    ),
    ("substr", "SELECT SUBSTR(email, 1, 3) AS prefix FROM customers ORDER BY customer_id LIMIT 5"),
    (
        "regexp_full",
        "SELECT COUNT(*) AS n FROM orders WHERE REGEXP_FULL_MATCH(coupon, '[A-Z]+[0-9]+')",
    ),
    ("regex_op", "SELECT COUNT(*) AS n FROM orders WHERE coupon ~ '[0-9]'"),
    (
        "string_agg",
        "SELECT category, STRING_AGG(product_name, ', ' ORDER BY product_id) AS names FROM products GROUP BY category ORDER BY category",
    ),
    ("median", "SELECT MEDIAN(amount) AS med FROM orders"),
    ("quantile_cont", "SELECT QUANTILE_CONT(amount, 0.9) AS p90 FROM orders"),
    ("stddev", "SELECT STDDEV(amount) AS sd, VARIANCE(amount) AS var FROM orders"),
    ("corr", "SELECT CORR(quantity, amount) AS r FROM orders"),
    (
        "filter_clause",
        "SELECT COUNT(*) FILTER (WHERE status = 'shipped') AS shipped, COUNT(*) AS total FROM orders",
    ),
    (
        "qualify",
        "SELECT customer_id, order_id, amount FROM orders QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY amount DESC, order_id) = 1 ORDER BY customer_id",
    ),
    (
        "distinct_on",
        "SELECT DISTINCT ON (customer_id) customer_id, order_id FROM orders ORDER BY customer_id, order_date DESC, order_id",
    ),
    (
        "exclude",
        "SELECT * EXCLUDE (email, signup_date) FROM customers ORDER BY customer_id LIMIT 5",
    ),
    ("limit_offset", "SELECT order_id FROM orders ORDER BY order_id LIMIT 5 OFFSET 10"),
    (
        "greatest",
        "SELECT order_id, GREATEST(quantity, 3) AS q FROM orders ORDER BY order_id LIMIT 5",
    ),
    (
        "integer_division",
        "SELECT order_id, quantity / 2 AS half FROM orders ORDER BY order_id LIMIT 5",
    ),
    (
        "modulo",
        "SELECT order_id % 7 AS bucket, COUNT(*) AS n FROM orders GROUP BY bucket ORDER BY bucket",
    ),
    (
        "cast_double",
        "SELECT CAST(quantity AS DOUBLE) / 3 AS x FROM orders ORDER BY order_id LIMIT 5",
    ),
    ("group_by_position", "SELECT status, COUNT(*) AS n FROM orders GROUP BY 1 ORDER BY 1"),
    (
        "order_by_alias",
        "SELECT customer_id, SUM(amount) AS spend FROM orders GROUP BY customer_id ORDER BY spend DESC LIMIT 5",
    ),
    (
        "cross_join_totals",
        "SELECT o.status, COUNT(*) * 1.0 / t.total AS frac FROM orders o CROSS JOIN (SELECT COUNT(*) AS total FROM orders) t GROUP BY o.status, t.total ORDER BY o.status",
    ),
    (
        "self_join",
        "SELECT COUNT(*) AS n FROM orders a JOIN orders b ON a.customer_id = b.customer_id AND a.order_id < b.order_id AND a.order_date = b.order_date",
    ),
    (
        "intersect",
        "SELECT customer_id FROM orders WHERE status = 'returned' INTERSECT SELECT customer_id FROM customers WHERE segment = 'corporate' ORDER BY customer_id",
    ),
    (
        "except",
        "SELECT customer_id FROM customers EXCEPT SELECT customer_id FROM orders ORDER BY customer_id",
    ),
    ("is_true", "SELECT COUNT(*) AS n FROM products WHERE in_stock"),
    ("not_in_stock", "SELECT product_name FROM products WHERE NOT in_stock ORDER BY product_id"),
    (
        "avg_per_segment",
        "SELECT c.segment, AVG(o.amount) AS avg_amount, COUNT(DISTINCT o.customer_id) AS buyers FROM orders o JOIN customers c ON c.customer_id = o.customer_id GROUP BY c.segment ORDER BY c.segment",
    ),
    (
        "first_order",
        "SELECT customer_id, MIN(order_date) AS first_order FROM orders GROUP BY customer_id ORDER BY customer_id",
    ),
    (
        "cohort",
        "WITH firsts AS (SELECT customer_id, MIN(order_date) AS first_day FROM orders GROUP BY customer_id) SELECT DATE_TRUNC('month', first_day) AS cohort, COUNT(*) AS customers FROM firsts GROUP BY cohort ORDER BY cohort",
    ),
    (
        "round_avg_2",
        "SELECT status, ROUND(AVG(amount), 2) AS avg_amount FROM orders GROUP BY status ORDER BY status",
    ),
    ("null_count", "SELECT COUNT(*) - COUNT(discount) AS missing FROM orders"),
    ("pct_with_coupon", "SELECT 100.0 * COUNT(coupon) / COUNT(*) AS pct FROM orders"),
    ("try_cast", "SELECT TRY_CAST(coupon AS INTEGER) AS c FROM orders ORDER BY order_id LIMIT 5"),
    (
        "array_agg_len",
        "SELECT customer_id, LENGTH(STRING_AGG(status, ',')) AS l FROM orders GROUP BY customer_id ORDER BY customer_id LIMIT 5",
    ),
    # -- date differences --
    (
        "date_diff_day",
        "SELECT order_id, DATE_DIFF('day', order_date, shipped_at) AS days FROM orders ORDER BY order_id LIMIT 50",
    ),
    ("datediff_day", "SELECT AVG(DATEDIFF('day', order_date, shipped_at)) AS avg_days FROM orders"),
    (
        "date_diff_month",
        "SELECT customer_id, DATE_DIFF('month', MIN(order_date), MAX(order_date)) AS months FROM orders GROUP BY customer_id ORDER BY customer_id",
    ),
    (
        "datediff_month_signup",
        "SELECT c.customer_id, DATEDIFF('month', c.signup_date, o.order_date) AS m FROM customers c JOIN orders o USING (customer_id) ORDER BY o.order_id LIMIT 40",
    ),
    (
        "date_diff_year",
        "SELECT DATE_DIFF('year', signup_date, DATE '2025-06-30') AS years, COUNT(*) AS n FROM customers GROUP BY years ORDER BY years",
    ),
    (
        "date_diff_week",
        "SELECT order_id, DATE_DIFF('week', DATE '2023-01-01', order_date) AS wk FROM orders ORDER BY order_id LIMIT 50",
    ),
    (
        "date_diff_quarter",
        "SELECT DATE_DIFF('quarter', DATE '2023-01-01', order_date) AS q, COUNT(*) AS n FROM orders GROUP BY q ORDER BY q",
    ),
    (
        "date_diff_hour",
        "SELECT order_id, DATE_DIFF('hour', order_date, shipped_at) AS hours FROM orders ORDER BY order_id LIMIT 50",
    ),
    (
        "date_diff_minute",
        "SELECT order_id, DATE_DIFF('minute', order_date, shipped_at) AS mins FROM orders ORDER BY order_id LIMIT 50",
    ),
    (
        "datediff_days_unit",
        "SELECT order_id, DATEDIFF('days', order_date, shipped_at) AS d FROM orders ORDER BY order_id LIMIT 20",
    ),
    ("max_minus_min_date", "SELECT MAX(order_date) - MIN(order_date) AS span_days FROM orders"),
    (
        "date_minus_date_col",
        "SELECT order_id, order_date - DATE '2023-01-01' AS day_no FROM orders ORDER BY order_id LIMIT 20",
    ),
    (
        "date_minus_date_join",
        "SELECT AVG(o.order_date - c.signup_date) AS avg_days FROM orders o JOIN customers c ON o.customer_id = c.customer_id",
    ),
    (
        "date_fn",
        "SELECT DATE(shipped_at) AS ship_day, COUNT(*) AS n FROM orders WHERE shipped_at IS NOT NULL GROUP BY DATE(shipped_at) ORDER BY ship_day LIMIT 10",
    ),
    ("date_fn_where", "SELECT COUNT(*) AS n FROM orders WHERE DATE(shipped_at) = order_date"),
    (
        "days_to_ship_cast",
        "SELECT AVG(CAST(shipped_at AS DATE) - order_date) AS avg_days FROM orders",
    ),
    (
        "dayname",
        "SELECT DAYNAME(order_date) AS dow, COUNT(*) AS n FROM orders GROUP BY dow ORDER BY dow",
    ),
    (
        "monthname",
        "SELECT MONTHNAME(order_date) AS month, COUNT(*) AS n FROM orders GROUP BY month ORDER BY month",
    ),
    (
        "date_trunc_week",
        "SELECT DATE_TRUNC('week', order_date) AS wk, COUNT(*) AS n FROM orders GROUP BY wk ORDER BY wk LIMIT 10",
    ),
    (
        "extract_epoch",
        "SELECT order_id, EXTRACT(EPOCH FROM shipped_at) AS e FROM orders ORDER BY order_id LIMIT 5",
    ),
    # -- aggregates --
    (
        "percentile_cont",
        "SELECT PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY amount) AS p90 FROM orders",
    ),
    (
        "percentile_cont_median",
        "SELECT status, PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY amount) AS med FROM orders GROUP BY status ORDER BY status",
    ),
    (
        "percentile_disc",
        "SELECT PERCENTILE_DISC(0.5) WITHIN GROUP (ORDER BY quantity) AS med_q FROM orders",
    ),
    (
        "percentile_cont_desc",
        "SELECT PERCENTILE_CONT(0.25) WITHIN GROUP (ORDER BY amount DESC) AS p FROM orders",
    ),
    ("approx_count_distinct", "SELECT APPROX_COUNT_DISTINCT(customer_id) AS buyers FROM orders"),
    (
        "bool_or",
        "SELECT customer_id, BOOL_OR(status = 'returned') AS ever_returned FROM orders GROUP BY customer_id ORDER BY customer_id",
    ),
    (
        "bool_and",
        "SELECT category, BOOL_AND(in_stock) AS all_in_stock FROM products GROUP BY category ORDER BY category",
    ),
    (
        "arg_max",
        "SELECT customer_id, ARG_MAX(order_id, amount) AS biggest_order FROM orders GROUP BY customer_id ORDER BY customer_id",
    ),
    (
        "arg_min",
        "SELECT customer_id, ARG_MIN(order_date, amount) AS cheapest_day FROM orders GROUP BY customer_id ORDER BY customer_id",
    ),
    (
        "max_by",
        "SELECT customer_id, MAX_BY(status, order_date) AS last_status FROM orders GROUP BY customer_id ORDER BY customer_id",
    ),
    (
        "min_by",
        "SELECT category, MIN_BY(product_name, price) AS cheapest FROM products GROUP BY category ORDER BY category",
    ),
    ("var_pop", "SELECT VAR_POP(amount) AS v, STDDEV_POP(amount) AS s FROM orders"),
    ("stddev_samp", "SELECT STDDEV_SAMP(amount) AS s FROM orders"),
    ("count_if", "SELECT COUNT_IF(status = 'cancelled') AS cancelled FROM orders"),
    ("mode", "SELECT MODE(status) AS most_common FROM orders"),
    # -- regex and text --
    ("regexp_matches", "SELECT COUNT(*) AS n FROM orders WHERE REGEXP_MATCHES(coupon, '[0-9]+')"),
    (
        "regexp_extract",
        "SELECT order_id, REGEXP_EXTRACT(coupon, '[0-9]+') AS num FROM orders WHERE coupon IS NOT NULL ORDER BY order_id LIMIT 20",
    ),
    (
        "regexp_extract_group",
        "SELECT REGEXP_EXTRACT(email, '@([a-z]+)\\.', 1) AS host, COUNT(*) AS n FROM customers GROUP BY host ORDER BY host",
    ),
    (
        "string_split_unnest",
        "SELECT UNNEST(STRING_SPLIT(tags, ',')) AS tag, COUNT(*) AS n FROM products GROUP BY tag ORDER BY tag",
    ),
    (
        "string_split_sub",
        "SELECT tag, COUNT(*) AS n FROM (SELECT UNNEST(STRING_SPLIT(tags, ',')) AS tag FROM products) GROUP BY tag ORDER BY n DESC, tag",
    ),
    (
        "str_split_len",
        "SELECT product_id, LEN(STRING_SPLIT(tags, ',')) AS n_tags FROM products ORDER BY product_id LIMIT 10",
    ),
    ("contains", "SELECT COUNT(*) AS n FROM products WHERE CONTAINS(tags, 'eco')"),
    ("ends_with", "SELECT COUNT(*) AS n FROM customers WHERE ENDS_WITH(email, '.org')"),
    ("starts_with", "SELECT COUNT(*) AS n FROM customers WHERE STARTS_WITH(name, 'Customer 1')"),
    (
        "regexp_replace",
        "SELECT REGEXP_REPLACE(coupon, '[0-9]', '#') AS masked FROM orders WHERE coupon IS NOT NULL ORDER BY order_id LIMIT 10",
    ),
    (
        "concat_ws",
        "SELECT CONCAT_WS('-', country, segment) AS key FROM customers ORDER BY customer_id LIMIT 10",
    ),
    # -- rounding, numerics --
    ("round_tie", "SELECT ROUND(0.8125, 3) AS r"),
    (
        "round_col_tie",
        "SELECT order_id, ROUND(amount, 3) AS r FROM orders ORDER BY order_id LIMIT 60",
    ),
    ("round_zero", "SELECT ROUND(2.5) AS a, ROUND(-2.5) AS b, ROUND(3.5) AS c"),
    ("round_sum", "SELECT ROUND(SUM(amount), 1) AS total FROM orders"),
    ("numeric_cast", "SELECT CAST(SUM(amount) AS NUMERIC) AS total FROM orders"),
    (
        "numeric_colon",
        "SELECT order_id, amount::numeric AS a FROM orders ORDER BY order_id LIMIT 10",
    ),
    (
        "decimal_cast",
        "SELECT order_id, CAST(amount AS DECIMAL(10, 2)) AS a FROM orders ORDER BY order_id LIMIT 10",
    ),
    ("round_avg_numeric", "SELECT ROUND(AVG(amount)::numeric, 2) AS a FROM orders"),
    # -- NULL ordering --
    (
        "order_desc_nulls",
        "SELECT order_id, discount FROM orders ORDER BY discount DESC, order_id LIMIT 10",
    ),
    (
        "order_asc_nulls",
        "SELECT order_id, discount FROM orders ORDER BY discount, order_id LIMIT 10",
    ),
    (
        "qualify_desc_nulls",
        "SELECT customer_id, order_id FROM orders QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY discount DESC, order_id) = 1 ORDER BY customer_id",
    ),
    (
        "order_desc_shipped",
        "SELECT order_id, shipped_at FROM orders ORDER BY shipped_at DESC, order_id LIMIT 5",
    ),
    (
        "explicit_nulls_first",
        "SELECT order_id, discount FROM orders ORDER BY discount DESC NULLS FIRST, order_id LIMIT 5",
    ),
    (
        "lead_desc",
        "SELECT order_id, LEAD(discount) OVER (ORDER BY discount DESC, order_id) AS nxt FROM orders ORDER BY order_id LIMIT 20",
    ),
    # -- windows with intervals, pivot, series --
    (
        "range_interval_window",
        "SELECT order_date, SUM(amount) OVER (ORDER BY order_date RANGE BETWEEN INTERVAL 6 DAYS PRECEDING AND CURRENT ROW) AS week_sum FROM (SELECT order_date, SUM(amount) AS amount FROM orders GROUP BY order_date) ORDER BY order_date LIMIT 30",
    ),
    (
        "pivot_in",
        "SELECT * FROM (SELECT status, EXTRACT(YEAR FROM order_date) AS yr, amount FROM orders) PIVOT (SUM(amount) FOR status IN ('shipped', 'pending', 'cancelled')) ORDER BY yr",
    ),
    (
        "pivot_duckdb",
        "PIVOT orders ON status IN ('shipped', 'returned') USING COUNT(*) GROUP BY customer_id ORDER BY customer_id",
    ),
    (
        "generate_series_dates",
        "SELECT d.day, COUNT(o.order_id) AS n FROM generate_series(DATE '2023-01-01', DATE '2023-01-31', INTERVAL 1 DAY) AS d(day) LEFT JOIN orders o ON o.order_date = d.day GROUP BY d.day ORDER BY d.day",
    ),
    ("generate_series_ints", "SELECT * FROM generate_series(1, 5) AS t(n) ORDER BY n"),
    ("range_ints", "SELECT * FROM range(0, 5) AS t(n) ORDER BY n"),
    # -- DuckDB conveniences --
    ("group_by_all", "SELECT status, COUNT(*) AS n FROM orders GROUP BY ALL ORDER BY status"),
    ("order_by_all", "SELECT DISTINCT segment FROM customers ORDER BY ALL"),
    ("ifnull", "SELECT SUM(IFNULL(discount, 0)) AS d FROM orders"),
    ("if_fn", "SELECT SUM(IF(status = 'shipped', amount, 0)) AS shipped FROM orders"),
    ("sum_filter", "SELECT SUM(amount) FILTER (WHERE status = 'shipped') AS shipped FROM orders"),
    (
        "date_add_interval",
        "SELECT COUNT(*) AS n FROM orders WHERE shipped_at > order_date + INTERVAL 3 DAY",
    ),
    (
        "current_minus",
        "SELECT COUNT(*) AS n FROM customers WHERE signup_date >= DATE '2024-06-30' - INTERVAL 90 DAY",
    ),
    (
        "last_day",
        "SELECT LAST_DAY(order_date) AS eom, COUNT(*) AS n FROM orders GROUP BY eom ORDER BY eom LIMIT 5",
    ),
    ("make_date", "SELECT MAKE_DATE(2024, 2, 29) AS d"),
]


def _normal(value: Any) -> Any:
    """A value in a form both engines' results compare equal in."""
    if isinstance(value, Decimal):
        return round(float(value), 6)
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date()
    if isinstance(value, dt.timedelta):
        return ("interval", value.total_seconds())
    if isinstance(value, (list, tuple)):
        return tuple(_normal(v) for v in value)
    return value


def _rows(frame: pl.DataFrame, ordered: bool) -> list[tuple[Any, ...]]:
    rows = [tuple(_normal(v) for v in row) for row in frame.rows()]
    return rows if ordered else sorted(rows, key=repr)


def compare(ours: pl.DataFrame, theirs: pl.DataFrame, sql: str) -> str | None:
    """None when the results match; else what differs."""
    if ours.width != theirs.width:
        return f"columns {ours.columns} vs DuckDB {theirs.columns}"
    names = [
        (a, b)
        for a, b in zip(ours.columns, theirs.columns, strict=True)
        if a != b and ("(" not in b or b == "count_star()")
    ]
    if names:
        return f"column names {ours.columns} vs DuckDB {theirs.columns}"
    ordered = "order by" in sql.lower()
    a, b = _rows(ours, ordered), _rows(theirs, ordered)
    if a != b:
        diff = next(((x, y) for x, y in zip(a, b) if x != y), (len(a), len(b)))
        return f"rows differ: {diff[0]!r} vs DuckDB {diff[1]!r}"
    return None


def run_corpus(chat: Any, frames: dict[str, pl.DataFrame]) -> list[tuple[str, str, str | None]]:
    """Every query as (name, sql, problem): problem None when chatdf matched DuckDB."""
    import duckdb

    con = duckdb.connect()
    for name, frame in frames.items():
        con.register(name, frame.to_arrow())
    out = []
    for name, sql in QUERIES:
        theirs = con.sql(sql).pl()
        try:
            ours = chat.sql(sql)
        except Exception as exc:  # noqa: BLE001 - a failure is a finding
            out.append((name, sql, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"))
            continue
        out.append((name, sql, compare(ours, theirs, sql)))
    return out


def main() -> None:  # pragma: no cover - a report for people
    import os

    from chatdf import ChatDF

    os.environ.setdefault("CHATDF_DB_PATH", ":memory:")
    frames = tables()
    chat = ChatDF(workers=1)
    try:
        for name, frame in frames.items():
            chat.add(frame, name)
        results = run_corpus(chat, frames)
    finally:
        chat.close()
    failed = [(n, p) for n, _, p in results if p]
    print(f"{len(results) - len(failed)}/{len(results)} queries match DuckDB")
    for name, problem in failed:
        print(f"  {name}: {problem}")


if __name__ == "__main__":
    main()
