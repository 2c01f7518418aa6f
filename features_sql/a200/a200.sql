-- a200: the tier's final model = every a100 column (the trimmed a100 tier, in order) + a200's
-- 101 columns in declared order, from a200_talib (TA-Lib), a200_windows (permutation entropy,
-- days since the 52-week extremes) and a200_stats (SQL).
with source as (
    select
        p.*,
        t.tema_9, t.tema_20, t.tema_50, t.tema_100, t.wma_10, t.wma_20, t.wma_50, t.wma_200,
        t.kama_10, t.kama_20, t.kama_50, t.hma_9, t.hma_21, t.hma_50, s.vwma_10, s.vwma_50,
        s.tema_20_slope, s.price_pct_from_tema_50, s.price_pct_from_kama_20, s.days_above_sma_9,
        s.days_below_sma_9, s.days_above_sma_50, s.days_below_sma_50, s.days_above_sma_200,
        s.days_below_sma_200, s.days_above_tema_20, s.days_below_tema_20, s.days_above_kama_20,
        s.days_below_kama_20, s.days_above_vwma_20, s.days_below_vwma_20,
        s.days_since_sma_9_50_cross, s.days_since_sma_50_200_cross,
        s.days_since_tema_sma_50_cross, s.days_since_kama_sma_50_cross,
        s.days_since_sma_9_200_cross, s.tema_20_sma_50_proximity, s.kama_20_sma_50_proximity,
        s.sma_9_200_proximity, s.pct_from_upper_band, s.pct_from_lower_band,
        s.days_above_upper_band, s.days_below_lower_band, s.bb_squeeze_indicator,
        s.bb_squeeze_duration, s.rsi_distance_from_50, s.days_rsi_overbought, s.days_rsi_oversold,
        s.rsi_percentile_60d, s.zscore_from_20d_mean, s.zscore_from_50d_mean,
        s.percentile_in_52wk_range, s.distance_from_52wk_high_pct, w.days_since_52wk_high,
        w.days_since_52wk_low, s.consecutive_up_days, s.consecutive_down_days,
        s.range_compression_5d, t.macd_signal, s.macd_histogram_slope,
        s.days_since_macd_cross_signal, s.macd_signal_proximity, s.volume_trend_5d,
        s.consecutive_volume_increase, s.volume_price_confluence, s.high_volume_direction_bias,
        s.trading_day_of_week, s.is_monday, s.is_friday, s.days_to_month_end, s.month_of_year,
        s.is_quarter_end_month, s.candle_body_pct, s.body_to_range_ratio, s.upper_wick_pct,
        s.lower_wick_pct, s.doji_indicator, s.range_vs_avg_range, s.tenkan_sen, s.kijun_sen,
        s.senkou_span_a, s.senkou_span_b, s.price_vs_cloud, s.cloud_thickness_pct,
        s.donchian_upper_20, s.donchian_lower_20, s.donchian_position, s.donchian_width_pct,
        s.pct_to_donchian_breakout, s.price_rsi_divergence, s.price_obv_divergence,
        s.divergence_streak, s.divergence_magnitude, w.permutation_entropy_order3,
        w.permutation_entropy_order4, w.permutation_entropy_order5, w.entropy_trend_5d,
        s.trend_strength_pct_60d, s.vol_regime_state, s.regime_consistency,
        s.regime_transition_prob
    from {{ ref('a100') }} p
    join {{ ref('a200_talib') }} t using (ticker, date)
    join {{ ref('a200_windows') }} w using (ticker, date)
    join {{ ref('a200_stats') }} s using (ticker, date)
),

a200 as (
    select * from source
)

select * from a200 order by ticker, date
