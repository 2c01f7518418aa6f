{% macro lag(col, k) %}lag({{ col }}, {{ k }}) OVER (PARTITION BY ticker ORDER BY date){% endmacro %}
