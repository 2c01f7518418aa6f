-- a100: the tier's final model = every a50 column (the trimmed a50 tier, in order) + a100's 50
-- columns in declared order, from a100_stats (SQL), a100_talib (TA-Lib) and a100_recursive
-- (SuperTrend, days since SMA crosses).
with source as (
    select
        p.*,
        s.return_1d_acceleration, s.return_5d_acceleration,
        s.qqe_slope, s.qqe_extreme_dist, s.stc_slope, s.stc_extreme_dist,
        s.demarker_14, s.demarker_from_half,
        t.stoch_k_14, t.stoch_d_14, s.stoch_extreme_dist,
        t.cci_14, t.mfi_14, t.williams_r_14,
        s.vrp_5d, s.vrp_slope,
        s.sharpe_252d, s.sortino_252d, s.sharpe_slope_20d, s.sortino_slope_20d,
        s.var_95, s.var_99, s.cvar_95,
        s.sma_9_50_proximity, s.sma_50_slope, s.sma_200_slope,
        t.ema_12, t.ema_26,
        r.days_since_sma_50_cross, r.days_since_sma_200_cross,
        s.atr_pct_percentile_60d, s.bb_width_percentile_60d,
        s.parkinson_volatility, s.garman_klass_volatility, s.vol_of_vol,
        s.adx_slope, t.di_spread, t.aroon_oscillator,
        r.price_pct_from_supertrend, r.supertrend_direction,
        s.obv_slope, s.volume_price_trend, s.kvo_histogram, s.accumulation_dist,
        s.win_rate_20d, s.expectancy_20d, s.buying_pressure_ratio, s.fib_range_position,
        s.prior_high_20d_dist, s.prior_low_20d_dist
    from {{ ref('a50') }} p
    join {{ ref('a100_stats') }} s using (ticker, date)
    join {{ ref('a100_talib') }} t using (ticker, date)
    join {{ ref('a100_recursive') }} r using (ticker, date)
),

a100 as (
    select * from source
)

select * from a100 order by ticker, date
