-- vix_asof: the vix tier's columns for every (ticker, date) of the bars, untrimmed.
-- Each statistic is computed over the vix source's own rows (one row per VIX trading day), then
-- the latest VIX row at or before each ticker date is as-of joined by as_of(); a row older than
-- the source's max_staleness_days calendar days makes every vix column NULL (stale_source).
-- Other tiers ref this model (not the trimmed `vix` tier) so that vix_close is available from
-- the first VIX day on.
with source as (
    -- One partition label, so the per-ticker window macros apply to the series unchanged.
    select 'vix' as ticker, date, close
    from {{ source('vix') }}
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

joined as (
    -- The latest vix_stats row at or before each ticker date, NULL when stale.
    select * from {{ as_of('vix', 'vix_stats', 'vix_date') }}
)

select
    ticker, date,
    vix_close, vix_sma_10, vix_sma_20, vix_percentile_60d,
    vix_zscore_20d, vix_regime, vix_change_1d, vix_change_5d
from joined
order by ticker, date
