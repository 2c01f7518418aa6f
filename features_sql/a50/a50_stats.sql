-- a50_stats: a50's SQL columns (returns, ratios, rolling statistics, slopes) for every raw
-- (ticker, date), untrimmed, plus helper columns that a100 refs: r (daily simple return) and
-- log_return. Inputs: raw OHLCV, a20_talib (untrimmed TA-Lib outputs), a50_recursive (qqe, stc)
-- and vix_asof (as-of joined VIX close, NULL when stale).
with source as (
    select
        o.ticker, o.date, o.open, o.close, o.volume,
        t.rsi_daily, t.sma_50, t.sma_200, t.atr_14, t.macd_histogram,
        t.bb_upper, t.bb_middle, t.bb_lower,
        rc.qqe_fast, rc.qqe_slow, rc.stc,
        v.vix_close
    from {{ source('ohlcv') }} o
    join {{ ref('a20_talib') }} t using (ticker, date)
    join {{ ref('a50_recursive') }} rc using (ticker, date)
    left join {{ ref('vix_asof') }} v using (ticker, date)
),

daily as (
    select
        *,
        -- r: daily simple return; log_return: ln(close_t / close_{t-1}).
        close / {{ lag('close') }} - 1 as r,
        ln(close / {{ lag('close') }}) as log_return,
        -- atr_pct: 100 * atr_14 / close.
        100 * atr_14 / close as atr_pct,
        -- The final columns that only need lags are computed here too, where the rows are
        -- already ordered for the lags above, so that no later stage needs its own window.
        -- return_*: % change of close over 1, 5, 21, 63, 252 rows.
        {{ pct_change('close', 1) }} as return_1d,
        {{ pct_change('close', 5) }} as return_5d,
        {{ pct_change('close', 21) }} as return_21d,
        {{ pct_change('close', 63) }} as return_63d,
        {{ pct_change('close', 252) }} as return_252d,
        -- overnight_gap: open vs the previous close, in %.
        100 * (open - {{ lag('close') }}) / {{ lag('close') }} as overnight_gap,
        -- rsi_slope: RSI momentum over 5 rows.
        {{ slope('rsi_daily', 5) }} as rsi_slope,
        -- atr_pct_slope: 5-row change of atr_pct (the expression above, lagged).
        {{ slope('100 * atr_14 / close', 5) }} as atr_pct_slope
    from source
),

daily_parts as (
    -- r_down: min(r, 0), the Sortino downside input (NULL stays NULL).
    select *, {{ neg_part('r') }} as r_down from daily
),

rolling as (
    select
        *,
        -- RV_n = 100 * sqrt(252) * sample std of n log returns (exactly 0 on a flat window).
        100 * {{ sqrt_year() }} * {{ rolling_std('log_return', 10) }} as rv_10,
        100 * {{ sqrt_year() }} * {{ rolling_std('log_return', 21) }} as rv_21,
        -- Sharpe / Sortino ingredients over 20 and 60 rows of r.
        {{ rolling_mean('r', 20) }} as mean_r_20,
        {{ rolling_mean('r', 60) }} as mean_r_60,
        {{ rolling_std('r', 20) }} as std_r_20,
        {{ rolling_std('r', 60) }} as std_r_60,
        -- (r_down is NULL exactly where r is, so they share r's counts).
        {{ rolling_std('r_down', 20, like='r') }} as std_down_20,
        {{ rolling_std('r_down', 60, like='r') }} as std_down_60,
        -- volume_ratio_20d ingredients: SMA20(volume) and the exact all-zero test.
        {{ rolling_mean('volume', 20) }} as sma_volume_20,
        {{ all_zero('volume', 20) }} as volume_all_zero_20
    from daily_parts
),

a50_stats as (
    select
        ticker, date,
        -- return_*: % change of close over 1, 5, 21, 63, 252 rows (daily).
        return_1d,
        return_5d,
        return_21d,
        return_63d,
        return_252d,
        -- overnight_gap (daily), open_to_close_pct: overnight and intraday moves in %.
        overnight_gap,
        100 * (close - open) / open as open_to_close_pct,
        -- qqe_*: EMAs of rsi_daily (a50_recursive) and their spread.
        qqe_fast,
        qqe_slow,
        qqe_fast - qqe_slow as qqe_fast_slow_spread,
        -- stc, stc_from_50: Schaff trend cycle (a50_recursive), centred.
        stc,
        stc - 50 as stc_from_50,
        -- vrp_*: VIX minus realised volatility; NULL when the VIX value is stale.
        vix_close - rv_10 as vrp_10d,
        vix_close - rv_21 as vrp_21d,
        {{ safe_div('vix_close', 'rv_21', '1.0') }} as implied_vs_realized_ratio,
        -- sharpe_n, sortino_n: sqrt(252) * mean / std, 0 when the std is 0.
        {{ safe_div(sqrt_year() ~ ' * mean_r_20', 'std_r_20', '0.0') }} as sharpe_20d,
        {{ safe_div(sqrt_year() ~ ' * mean_r_60', 'std_r_60', '0.0') }} as sharpe_60d,
        {{ safe_div(sqrt_year() ~ ' * mean_r_20', 'std_down_20', '0.0') }} as sortino_20d,
        {{ safe_div(sqrt_year() ~ ' * mean_r_60', 'std_down_60', '0.0') }} as sortino_60d,
        -- rsi_slope (daily), rsi_extreme_dist: RSI momentum and distance to the nearer of 30 / 70.
        rsi_slope,
        {{ extreme_dist('rsi_daily', 30, 70) }} as rsi_extreme_dist,
        -- price_pct_from_sma_*, sma_50_200_proximity: distance to the TA-Lib SMAs in %.
        100 * (close - sma_50) / sma_50 as price_pct_from_sma_50,
        100 * (close - sma_200) / sma_200 as price_pct_from_sma_200,
        100 * (sma_50 - sma_200) / sma_200 as sma_50_200_proximity,
        -- atr_pct, atr_pct_slope (daily): ATR as % of close and its 5-row change.
        atr_pct,
        atr_pct_slope,
        -- bb_width: 100 * (upper - lower) / middle of BBANDS(close, 20, 2, 2, SMA).
        100 * (bb_upper - bb_lower) / bb_middle as bb_width,
        -- volume_ratio_20d: volume / SMA20(volume); 1.0 when the 20 volumes are all 0.
        case when volume_all_zero_20 and sma_volume_20 is not null then 1.0
             else volume / sma_volume_20 end as volume_ratio_20d,
        -- macd_histogram: TA-Lib MACD(12, 26, 9) histogram (computed once, in a20_talib).
        macd_histogram,
        -- Helpers for a100 (not a50 columns).
        r,
        log_return
    from rolling
)

select * from a50_stats order by ticker, date
