{#- The a200 shapes: run lengths, signed cross counters, rolling counts, volume-weighted means,
    clipping and weekday counts.

    Run lengths need the row's position in its ticker's history: a column `rn` (1, 2, ...)
    that an earlier CTE computes with {{ row_position() }}, because window functions cannot
    nest. Every result is NULL where its condition or state is NULL (the warm-up) and DOUBLE. -#}

{#- The row's 1-based position in its ticker's history. -#}
{% macro row_position() -%}
row_number() OVER (PARTITION BY ticker ORDER BY date)
{%- endmacro %}

{#- run(c): the number of consecutive rows ending today on which `cond` holds; 0 when it does
    not hold today; NULL while it is NULL. A row where `cond` is not TRUE (FALSE or NULL) ends
    a run, so counting starts on the first row where cond is defined. `cond` is a row
    expression of columns of the current CTE's input (no window inside). -#}
{% macro run_length(cond) -%}
CAST(CASE WHEN ({{ cond }}) THEN
       rn - max(CASE WHEN ({{ cond }}) IS NOT TRUE THEN rn ELSE 0 END) {{ w_running() }}
     WHEN NOT ({{ cond }}) THEN 0 END AS DOUBLE)
{%- endmacro %}

{#- +1 when a >= b (a tie counts +1), -1 when a < b, NULL when either is NULL. -#}
{% macro sign_ge(a, b) -%}
CASE WHEN ({{ a }}) >= ({{ b }}) THEN 1 WHEN ({{ a }}) < ({{ b }}) THEN -1 END
{%- endmacro %}

{#- TRUE on a row where `state` is defined and differs from the previous row's (or the previous
    row has none: the first defined row); FALSE otherwise. -#}
{% macro state_changed(state) -%}
(({{ state }}) IS NOT NULL AND ({{ state }}) IS DISTINCT FROM {{ lag(state) }})
{%- endmacro %}

{#- k: 1 on a row where `changed` (a state_changed column of an earlier CTE) holds, else the
    previous k + 1; NULL where `state` is NULL. -#}
{% macro rows_since_change(changed, state) -%}
CAST(CASE WHEN ({{ state }}) IS NOT NULL THEN
       rn - max(CASE WHEN {{ changed }} THEN rn ELSE 0 END) {{ w_running() }} + 1
     END AS DOUBLE)
{%- endmacro %}

{#- srun: sign * k, the sign (+1 / -1, a sign_ge column) times the rows since it last changed
    (1 on the change row and on the first defined row); never 0. -#}
{% macro signed_run(sign, changed) -%}
({{ sign }}) * {{ rows_since_change(changed, sign) }}
{%- endmacro %}

{#- count_n(x): how many of the last n values (today included) are <= today's, an exact integer
    (n + 1 - the rank of today's value in descending order within the frame, as in
    percentile_rank); NULL until n values exist. -#}
{% macro count_le(col, n) -%}
CASE WHEN {{ full(col, n) }} THEN
  CAST({{ n + 1 }} - rank(ORDER BY {{ col }} DESC) {{ w(n) }} AS DOUBLE)
END
{%- endmacro %}

{#- sum_n(price * volume) / sum_n(volume); `price` when the n volumes are all 0 (a sum of
    non-negative volumes is 0 exactly when every term is); NULL until n volumes exist (so NULL
    throughout for a ticker without volume). `price_volume` is the column price * volume. -#}
{% macro volume_weighted_mean(price, price_volume, n) -%}
CASE WHEN {{ full('volume', n) }} THEN
  CASE WHEN {{ all_zero('volume', n) }} THEN {{ price }}
  ELSE sum({{ price_volume }}) {{ w(n) }} / sum(volume) {{ w(n) }} END
END
{%- endmacro %}

{#- x clipped to [0, 1] (x is never NULL where this is used: a ratio of prices). -#}
{% macro clip01(x) -%}
least(greatest({{ x }}, 0.0), 1.0)
{%- endmacro %}

{#- The number of weekdays (Monday .. Friday) from Monday 0001-01-01 through the date `d`
    (included): 5 per whole week, plus the weekdays of the last, partial week. Holidays are
    not excluded: a function of the date alone. -#}
{% macro weekdays_through(d) -%}
(5 * ((({{ d }}) - DATE '0001-01-01') // 7) + least((({{ d }}) - DATE '0001-01-01') % 7 + 1, 5))
{%- endmacro %}
