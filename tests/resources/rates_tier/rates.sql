-- rates: the 10-year Treasury yield (^TNX, the `rates` source) as-of joined to every ticker
-- date, its 5-day change, and each ticker's daily return in excess of the yield's daily rate.
-- The yield's statistics are computed over its own rows, then joined; a yield row older than
-- the source's max_staleness_days makes every column NULL (nullable: stale_source).
with source as (
    select date, close from {{ source('rates') }}
),

rate_rows as (
    select
        date as rate_date,
        close as tnx_yield,
        close - lag(close, 5) over (order by date) as tnx_change_5d
    from source
),

bars as (
    select
        ticker, date,
        close / lag(close) over (partition by ticker order by date) - 1 as return_1d
    from {{ source('ohlcv') }}
),

rates as (
    select
        b.ticker, b.date,
        r.tnx_yield,
        r.tnx_change_5d,
        b.return_1d - r.tnx_yield / 100 / 252 as excess_return_1d
    from bars b
    join {{ as_of('rates', 'rate_rows', 'rate_date') }} r using (ticker, date)
)

select * from rates
order by ticker, date
