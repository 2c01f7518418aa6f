-- a50: the tier's final model = every a20 column (the trimmed a20 tier, in order) + a50's 30
-- columns in declared order. kvo_signal comes from a50_recursive, the rest from a50_stats.
with source as (
    select
        p.*,
        s.return_1d, s.return_5d, s.return_21d, s.return_63d, s.return_252d,
        s.overnight_gap, s.open_to_close_pct,
        s.qqe_fast, s.qqe_slow, s.qqe_fast_slow_spread,
        s.stc, s.stc_from_50,
        s.vrp_10d, s.vrp_21d, s.implied_vs_realized_ratio,
        s.sharpe_20d, s.sharpe_60d, s.sortino_20d, s.sortino_60d,
        s.rsi_slope, s.rsi_extreme_dist,
        s.price_pct_from_sma_50, s.price_pct_from_sma_200, s.sma_50_200_proximity,
        s.atr_pct, s.atr_pct_slope, s.bb_width, s.volume_ratio_20d,
        rc.kvo_signal,
        s.macd_histogram
    from {{ ref('a20') }} p
    join {{ ref('a50_stats') }} s using (ticker, date)
    join {{ ref('a50_recursive') }} rc using (ticker, date)
),

a50 as (
    select * from source
)

select * from a50 order by ticker, date
