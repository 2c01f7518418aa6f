{#- Rolling statistics and null-safe arithmetic. Each rolling statistic is NULL until its n inputs
    exist. Window functions cannot nest, so `col` must be a column (or a row expression) that a
    previous CTE computed, not another window expression. -#}

{% macro rolling_mean(col, n) -%}
CASE WHEN {{ full(col, n) }} THEN avg({{ col }}) {{ w(n) }} END
{%- endmacro %}

{% macro rolling_sum(col, n) -%}
CASE WHEN {{ full(col, n) }} THEN sum({{ col }}) {{ w(n) }} END
{%- endmacro %}

{% macro rolling_min(col, n) -%}
CASE WHEN {{ full(col, n) }} THEN min({{ col }}) {{ w(n) }} END
{%- endmacro %}

{% macro rolling_max(col, n) -%}
CASE WHEN {{ full(col, n) }} THEN max({{ col }}) {{ w(n) }} END
{%- endmacro %}

{#- Sample standard deviation (ddof = 1), exactly 0 when the window is flat, so that callers can
    test `= 0` safely (e.g. through safe_div). -#}
{% macro rolling_std(col, n) -%}
CASE WHEN {{ full(col, n) }} THEN
  CASE WHEN {{ is_flat(col, n) }} THEN 0.0 ELSE stddev_samp({{ col }}) {{ w(n) }} END
END
{%- endmacro %}

{#- 100 * (x - min_n) / (max_n - min_n); `neutral` when the range is 0 (all values equal). -#}
{% macro stochastic(col, n, neutral=50) -%}
CASE WHEN {{ full(col, n) }} THEN
  CASE WHEN {{ is_flat(col, n) }} THEN {{ neutral }}
  ELSE 100 * (({{ col }}) - min({{ col }}) {{ w(n) }})
           / (max({{ col }}) {{ w(n) }} - min({{ col }}) {{ w(n) }}) END
END
{%- endmacro %}

{#- 100 * share of the last n values (today included) that are <= today's. -#}
{% macro percentile_rank(col, n) -%}
CASE WHEN {{ full(col, n) }} THEN
  100.0 * len(list_filter(list({{ col }}) {{ w(n) }}, lambda v: v <= {{ col }})) / {{ n }}
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
