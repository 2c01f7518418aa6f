{#- Window frames and row offsets. Every feature is computed per ticker over its rows ordered by
    date, so every frame partitions by ticker (the vix models label the VIX series with a ticker
    too). Frames count rows, never calendar days. -#}

{#- The n rows ending at the current row (current row included). -#}
{% macro w(n) -%}
OVER (PARTITION BY ticker ORDER BY date ROWS BETWEEN {{ n - 1 }} PRECEDING AND CURRENT ROW)
{%- endmacro %}

{#- The n rows before the current row (current row excluded). -#}
{% macro w_prior(n) -%}
OVER (PARTITION BY ticker ORDER BY date ROWS BETWEEN {{ n }} PRECEDING AND 1 PRECEDING)
{%- endmacro %}

{#- Every row up to and including the current one (running totals). -#}
{% macro w_running() -%}
OVER (PARTITION BY ticker ORDER BY date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
{%- endmacro %}

{#- The value k rows earlier (NULL for the first k rows). -#}
{% macro lag(col, k=1) -%}
lag({{ col }}, {{ k }}) OVER (PARTITION BY ticker ORDER BY date)
{%- endmacro %}

{#- x - x k rows earlier. -#}
{% macro slope(col, k) -%}
(({{ col }}) - {{ lag(col, k) }})
{%- endmacro %}

{#- % change over k rows: 100 * (x_t / x_{t-k} - 1). -#}
{% macro pct_change(col, k=1) -%}
(100 * (({{ col }}) / {{ lag(col, k) }} - 1))
{%- endmacro %}

{#- TRUE when all n inputs of the window exist (a statistic over n rows is NULL before). -#}
{% macro full(col, n) -%}
(count({{ col }}) {{ w(n) }} = {{ n }})
{%- endmacro %}

{#- TRUE when the n values of the window are all equal: the exact zero test for a standard
    deviation or a range (max = min), never a float compared to 0. -#}
{% macro is_flat(col, n) -%}
(max({{ col }}) {{ w(n) }} = min({{ col }}) {{ w(n) }})
{%- endmacro %}

{#- TRUE when the n values of the window are all 0: the exact zero test for a sum or mean of
    non-negative values. -#}
{% macro all_zero(col, n) -%}
(max(abs({{ col }})) {{ w(n) }} = 0)
{%- endmacro %}
