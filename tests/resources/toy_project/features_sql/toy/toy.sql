-- The toy tier: one SQL column, one from a Python model.
with source as (
    select * from {{ source('ohlcv') }}
),
logic as (
    select s.ticker, s.date,
           100 * (s.close / {{ lag('s.close', 1) }} - 1) as ret_1,
           p.close_x2
    from source s join {{ ref('toy_double') }} p using (ticker, date)
)
select ticker, date, ret_1, close_x2 from logic
