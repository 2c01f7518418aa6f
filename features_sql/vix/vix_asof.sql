-- vix_asof: the vix tier's columns for every (ticker, date) of raw.ohlcv, untrimmed.
-- Each statistic is computed over ^VIX's own rows (one row per VIX trading day), then the
-- latest VIX row at or before each ticker date is as-of joined; a row older than
-- vix_max_staleness_days calendar days makes every vix column NULL (nullable: stale_vix).
-- Other tiers ref this model (not the trimmed `vix` tier) so that vix_close is available from
-- the first VIX day on.
with source as (
    -- Label the series with the VIX ticker so the per-ticker window macros apply unchanged.
    select '{{ var("vix_ticker") }}' as ticker, date, close
    from {{ source('raw', 'vix') }}
),

vix_rows as (
    select
        date as vix_date,
        -- vix_close: the VIX close itself.
        close as vix_close,
        -- vix_sma_10, vix_sma_20: simple moving averages of the close.
        {{ rolling_mean('close', 10) }} as vix_sma_10,
        {{ rolling_mean('close', 20) }} as vix_sma_20,
        -- vix_percentile_60d: share of the PREVIOUS 59 closes (today excluded) strictly below
        -- today's close.
        case when count(close) {{ w_prior(59) }} = 59 then
            100.0 * len(list_filter(list(close) {{ w_prior(59) }}, lambda v: v < close)) / 59
        end as vix_percentile_60d,
        -- vix_zscore_20d ingredients (std is exactly 0 on a flat window).
        close - {{ rolling_mean('close', 20) }} as dev_20,
        {{ rolling_std('close', 20) }} as std_20,
        -- vix_regime: 0 below 15, 1 in [15, 25), 2 from 25 (cast: features are DOUBLE, and a
        -- CASE of bare literals like 0.0 would be DECIMAL).
        cast(case when close < 15 then 0 when close < 25 then 1 when close >= 25 then 2 end
             as double) as vix_regime,
        -- vix_change_1d, vix_change_5d: % change over 1 and 5 VIX rows.
        {{ pct_change('close', 1) }} as vix_change_1d,
        {{ pct_change('close', 5) }} as vix_change_5d
    from source
),

vix_stats as (
    select
        vix_date, vix_close, vix_sma_10, vix_sma_20, vix_percentile_60d,
        -- vix_zscore_20d: (vix - mean20) / std20, 0 when std20 = 0.
        {{ safe_div('dev_20', 'std_20', '0.0') }} as vix_zscore_20d,
        vix_regime, vix_change_1d, vix_change_5d
    from vix_rows
),

ticker_dates as (
    select distinct ticker, date from {{ source('raw', 'ohlcv') }}
),

joined as (
    -- As-of join: the latest VIX row at or before the ticker's date (never a later one).
    select t.ticker, t.date, v.*
    from ticker_dates t
    asof left join vix_stats v on t.date >= v.vix_date
),

fresh as (
    select
        *,
        v_age is not null and v_age <= {{ var('vix_max_staleness_days') }} as is_fresh
    from (select *, datediff('day', vix_date, date) as v_age from joined)
)

select
    ticker,
    date,
    case when is_fresh then vix_close end as vix_close,
    case when is_fresh then vix_sma_10 end as vix_sma_10,
    case when is_fresh then vix_sma_20 end as vix_sma_20,
    case when is_fresh then vix_percentile_60d end as vix_percentile_60d,
    case when is_fresh then vix_zscore_20d end as vix_zscore_20d,
    case when is_fresh then vix_regime end as vix_regime,
    case when is_fresh then vix_change_1d end as vix_change_1d,
    case when is_fresh then vix_change_5d end as vix_change_5d
from fresh
order by ticker, date
