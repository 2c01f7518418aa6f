{#- Rolling statistics and null-safe arithmetic. Each rolling statistic is NULL until its n inputs
    exist. Window functions cannot nest, so `col` must be a column (or a row expression) that a
    previous CTE computed, not another window expression.

    `like` (optional): a column that is NULL on exactly the rows where `col` is, typically the
    column `col` is derived from (r_down = min(r, 0) and r; a win flag and return_1d). The
    "n inputs exist" test then counts `like` instead of `col`, so statistics of several derived
    columns share one window count (DuckDB computes an identical window expression once). Only
    pass it when the NULL patterns match by construction: the result is then unchanged. -#}

{% macro rolling_mean(col, n, like=none) -%}
CASE WHEN {{ full(like or col, n) }} THEN avg({{ col }}) {{ w(n) }} END
{%- endmacro %}

{% macro rolling_sum(col, n, like=none) -%}
CASE WHEN {{ full(like or col, n) }} THEN sum({{ col }}) {{ w(n) }} END
{%- endmacro %}

{% macro rolling_min(col, n, like=none) -%}
CASE WHEN {{ full(like or col, n) }} THEN min({{ col }}) {{ w(n) }} END
{%- endmacro %}

{% macro rolling_max(col, n, like=none) -%}
CASE WHEN {{ full(like or col, n) }} THEN max({{ col }}) {{ w(n) }} END
{%- endmacro %}

{#- Sample standard deviation (ddof = 1); exactly 0 when the window is flat (all n values equal),
    so that callers can test `= 0` safely (e.g. through safe_div).

    No max = min guard is needed for that: DuckDB's stddev_samp keeps Welford states
    (count, mean, M2). Adding a value x to a state whose values all equal x leaves mean = x and
    M2 = 0 exactly (the first value sets mean = 0 + x / 1 = x; each later one adds
    (x - x) / k = 0 to the mean and (x - x) * (x - x) = 0 to M2), and combining two such states
    (window segment tree) gives delta = x - x = 0, mean = fma(., 0, x) = x, M2 = 0 + 0 + 0. A
    window only ever combines states built from its own rows, so a flat window of finite values
    yields sqrt(0 / (n - 1)) = 0.0 exactly. Inputs are finite: ingest accepts only finite
    positive prices and finite volumes. (Checked on flat windows of 0.1, 1/3, 1e9 + 0.3,
    negative values, 1e300, subnormals, after jumps, for n in 3..252.) -#}
{% macro rolling_std(col, n, like=none) -%}
CASE WHEN {{ full(like or col, n) }} THEN stddev_samp({{ col }}) {{ w(n) }} END
{%- endmacro %}

{#- 100 * (x - min_n) / (max_n - min_n); `neutral` when the range is 0 (all values equal). -#}
{% macro stochastic(col, n, neutral=50) -%}
CASE WHEN {{ full(col, n) }} THEN
  CASE WHEN {{ is_flat(col, n) }} THEN {{ neutral }}
  ELSE 100 * (({{ col }}) - min({{ col }}) {{ w(n) }})
           / (max({{ col }}) {{ w(n) }} - min({{ col }}) {{ w(n) }}) END
END
{%- endmacro %}

{#- 100 * share of the last n values (today included) that are <= today's. The count of values
    <= x is n + 1 - rank(ORDER BY col DESC) within the frame (rank = 1 + the number of values
    > x; ties with x, today included, are its peers), an exact integer, and much cheaper than
    filtering a list of the window's values. The window has no NULL once `full` holds. -#}
{% macro percentile_rank(col, n) -%}
CASE WHEN {{ full(col, n) }} THEN
  100.0 * ({{ n + 1 }} - rank(ORDER BY {{ col }} DESC) {{ w(n) }}) / {{ n }}
END
{%- endmacro %}

{#- num / den; `neutral` when den = 0; NULL when either side is NULL. `den` must be exactly 0 in
    the zero case (rolling_std, all_zero-guarded sums): no epsilon is applied here. -#}
{% macro safe_div(num, den, neutral) -%}
CASE WHEN ({{ num }}) IS NULL OR ({{ den }}) IS NULL THEN NULL
     WHEN ({{ den }}) = 0 THEN {{ neutral }}
     ELSE ({{ num }}) / ({{ den }}) END
{%- endmacro %}

{#- max(x, 0) and min(x, 0) that keep NULL (DuckDB's greatest/least skip NULL arguments). -#}
{% macro pos_part(col) -%}
CASE WHEN ({{ col }}) > 0 THEN ({{ col }}) WHEN ({{ col }}) <= 0 THEN 0.0 END
{%- endmacro %}

{% macro neg_part(col) -%}
CASE WHEN ({{ col }}) < 0 THEN ({{ col }}) WHEN ({{ col }}) >= 0 THEN 0.0 END
{%- endmacro %}

{#- Distance to the nearer of two levels: min(|x - lo|, |x - hi|); NULL when x is NULL. -#}
{% macro extreme_dist(col, lo, hi) -%}
CASE WHEN ({{ col }}) IS NOT NULL THEN
  least(abs(({{ col }}) - {{ lo }}), abs(({{ col }}) - {{ hi }}))
END
{%- endmacro %}

{#- Annualisation factor sqrt(trading days per year). -#}
{% macro sqrt_year() -%}
sqrt({{ var('trading_days_per_year') }})
{%- endmacro %}
