-- a200_stats: a200's SQL columns for every raw (ticker, date), untrimmed: run lengths, signed
-- cross counters, distances, z-scores, 52-week range, volume, calendar, candle, Ichimoku,
-- Donchian, divergence and regime columns. Inputs: raw OHLCV, a20_talib (TA-Lib SMAs, RSI,
-- MACD, OBV, ADX, Bollinger bands), a50_stats (return_1d = 100 * r, atr_pct) and a200_talib
-- (TEMA, KAMA, MACD signal, helpers sma_9 and the Keltner channel). `rn` is the row's position
-- in its ticker's history, which the run-length macros (macros/runs.sql) read.
with source as (
    select
        o.ticker, o.date, o.open, o.high, o.low, o.close, o.volume,
        o.close * o.volume as close_volume,
        t.sma_50, t.sma_200, t.rsi_daily, t.macd_line, t.obv, t.adx_14, t.macd_histogram,
        t.bb_upper, t.bb_lower,
        s.return_1d, s.atr_pct,
        p.tema_20, p.tema_50, p.kama_20, p.macd_signal, p.sma_9, p.kc_upper, p.kc_lower,
        {{ row_position() }} as rn
    from {{ source('ohlcv') }} o
    join {{ ref('a20_talib') }} t using (ticker, date)
    join {{ ref('a50_stats') }} s using (ticker, date)
    join {{ ref('a200_talib') }} p using (ticker, date)
),

{#- Signs of the five moving-average pairs and of MACD line vs signal (+1 when a >= b). -#}
{% set crosses = {
    'sma_9_50': sign_ge('sma_9', 'sma_50'),
    'sma_50_200': sign_ge('sma_50', 'sma_200'),
    'tema_sma_50': sign_ge('tema_20', 'sma_50'),
    'kama_sma_50': sign_ge('kama_20', 'sma_50'),
    'sma_9_200': sign_ge('sma_9', 'sma_200'),
    'macd_signal': sign_ge('macd_line', 'macd_signal'),
} %}

{#- bb_squeeze condition, defined once both the bands and the Keltner channel are. -#}
{% set squeeze %}
CASE WHEN bb_upper IS NOT NULL AND kc_upper IS NOT NULL THEN
  bb_upper < kc_upper AND bb_lower > kc_lower
END
{% endset %}

rolling as (
    -- First window pass: lags, rolling statistics, rolling counts, and the run lengths whose
    -- conditions read source columns only.
    select
        *,
        {{ lag('close') }} as prev_close,
        {{ lag('volume') }} as prev_volume,
        -- tema_20_slope, macd_histogram_slope: 5-row changes.
        {{ slope('tema_20', 5) }} as tema_20_slope,
        {{ slope('macd_histogram', 5) }} as macd_histogram_slope,
        -- vwma_10, vwma_50 and vwma_20 (the same values as a20's vwap_20, recomputed here on
        -- every raw row: ref('a20') is trimmed, and days_*_vwma_20 start at row 19).
        {{ volume_weighted_mean('close', 'close_volume', 10) }} as vwma_10,
        {{ volume_weighted_mean('close', 'close_volume', 20) }} as vwma_20,
        {{ volume_weighted_mean('close', 'close_volume', 50) }} as vwma_50,
        -- days_above_X / days_below_X: run(close >= X) / run(close < X) (a tie is above).
        {% for level in ['sma_9', 'sma_50', 'sma_200', 'tema_20', 'kama_20'] -%}
        {{ run_length('close >= ' ~ level) }} as days_above_{{ level }},
        {{ run_length('close < ' ~ level) }} as days_below_{{ level }},
        {% endfor -%}
        -- Signs of the cross pairs and whether each changed on this row.
        {% for name, sign in crosses.items() -%}
        {{ sign }} as sign_{{ name }},
        {{ state_changed(sign) }} as changed_{{ name }},
        {% endfor -%}
        -- Bollinger band runs (strict) and the squeeze: bands inside the Keltner channel.
        {{ run_length('close > bb_upper') }} as days_above_upper_band,
        {{ run_length('close < bb_lower') }} as days_below_lower_band,
        {{ run_length(squeeze) }} as bb_squeeze_duration,
        -- RSI runs.
        {{ run_length('rsi_daily > 70') }} as days_rsi_overbought,
        {{ run_length('rsi_daily < 30') }} as days_rsi_oversold,
        -- z-score ingredients (close over 20 and 50 rows, volume and return_1d over 20).
        {{ rolling_mean('close', 20) }} as close_mean_20,
        {{ rolling_std('close', 20) }} as close_std_20,
        {{ rolling_mean('close', 50) }} as close_mean_50,
        {{ rolling_std('close', 50) }} as close_std_50,
        {{ rolling_mean('volume', 20) }} as volume_mean_20,
        {{ rolling_std('volume', 20) }} as volume_std_20,
        {{ rolling_mean('return_1d', 20) }} as return_mean_20,
        {{ rolling_std('return_1d', 20) }} as return_std_20,
        -- 52-week (252-row) range of closes.
        {{ rolling_max('close', 252) }} as close_max_252,
        {{ rolling_min('close', 252) }} as close_min_252,
        -- Ranges: 5-row mean (range_compression_5d), 20-row mean (range_vs_avg_range).
        {{ rolling_mean('high - low', 5) }} as range_mean_5,
        {{ rolling_mean('high - low', 20) }} as range_mean_20,
        -- Ichimoku and Donchian extremes of highs and lows.
        {{ rolling_max('high', 9) }} as high_9, {{ rolling_min('low', 9) }} as low_9,
        {{ rolling_max('high', 26) }} as high_26, {{ rolling_min('low', 26) }} as low_26,
        {{ rolling_max('high', 52) }} as high_52, {{ rolling_min('low', 52) }} as low_52,
        {{ rolling_max('high', 20) }} as donchian_upper_20,
        {{ rolling_min('low', 20) }} as donchian_lower_20,
        -- count_n: how many of the last n values are <= today's. RSI is compared at 1e-9:
        -- a flat close leaves RSI exactly unchanged (both Wilder averages shrink by 13/14),
        -- a tie that float rounding would break differently at another price scale.
        {{ count_le('round(rsi_daily, 9)', 60) }} as rsi_count_60,
        {{ count_le('adx_14', 60) }} as adx_count_60,
        {{ count_le('atr_pct', 60) }} as atr_pct_count_60,
        {{ count_le('close', 20) }} as close_count_20,
        {{ count_le('round(rsi_daily, 9)', 20) }} as rsi_count_20,
        {{ count_le('obv', 20) }} as obv_count_20
    from source
),

{#- vol_regime_state from the 60-row count of atr_pct values <= today's: +1 above a share of
    0.7 (k >= 43), -1 below 0.3 (k <= 17), else 0. -#}
{% set regime_state %}
CASE WHEN atr_pct_count_60 >= 43 THEN 1 WHEN atr_pct_count_60 <= 17 THEN -1
     WHEN atr_pct_count_60 IS NOT NULL THEN 0 END
{% endset %}

{#- D: the larger count gap between close and RSI / OBV (NULL while either count is). -#}
{% set divergence_gap %}
CASE WHEN rsi_count_20 IS NOT NULL AND obv_count_20 IS NOT NULL THEN
  greatest(abs(close_count_20 - rsi_count_20), abs(close_count_20 - obv_count_20))
END
{% endset %}

second_pass as (
    -- Second window pass: what reads the first pass's columns.
    select
        *,
        -- consecutive_*: runs of strictly rising / falling closes and rising volume.
        {{ run_length('close > prev_close') }} as consecutive_up_days,
        {{ run_length('close < prev_close') }} as consecutive_down_days,
        {{ run_length('volume > prev_volume') }} as consecutive_volume_increase,
        -- days_*_vwma_20.
        {{ run_length('close >= vwma_20') }} as days_above_vwma_20,
        {{ run_length('close < vwma_20') }} as days_below_vwma_20,
        -- days_since_*_cross: signed runs of the cross signs.
        {% for name in crosses -%}
        {{ signed_run('sign_' ~ name, 'changed_' ~ name) }} as cross_{{ name }},
        {% endfor -%}
        -- z-scores of volume and of the daily % return (0 on a flat window).
        {{ safe_div('volume - volume_mean_20', 'volume_std_20', '0.0') }} as volume_z,
        {{ safe_div('return_1d - return_mean_20', 'return_std_20', '0.0') }} as return_z,
        -- range_compression_5d: today's 5-row mean range over the one 15 rows earlier (1.0
        -- when that mean is 0: its five ranges are all 0).
        {{ safe_div('range_mean_5', lag('range_mean_5', 15), '1.0') }} as range_compression_5d,
        -- high-volume days: volume > 1.5 * its 20-row mean; their % returns over 20 rows.
        {% set high_volume %}
        CASE WHEN volume_mean_20 IS NOT NULL AND return_1d IS NOT NULL THEN
          volume > 1.5 * volume_mean_20 END
        {% endset %}
        CASE WHEN count({{ high_volume }}) {{ w(20) }} = 20 THEN
          {{ safe_div('sum(CASE WHEN ' ~ high_volume ~ ' THEN return_1d ELSE 0.0 END) ' ~ w(20),
                      'sum(CASE WHEN ' ~ high_volume ~ ' THEN 1 ELSE 0 END) ' ~ w(20), '0.0') }}
        END as high_volume_direction_bias,
        -- divergence_streak: run(D > 4), D the count gap above.
        {{ run_length('(' ~ divergence_gap ~ ') > 4') }} as divergence_streak,
        {{ divergence_gap }} as divergence_gap,
        -- vol_regime_state, whether it changed (regime_consistency) and whether it moved from
        -- a defined previous state (regime_transition_prob; NULL until both exist).
        {{ regime_state }} as vol_regime_state,
        {{ state_changed(regime_state) }} as regime_changed,
        CASE WHEN ({{ regime_state }}) IS NOT NULL AND {{ lag(regime_state) }} IS NOT NULL THEN
          CAST(({{ regime_state }}) <> {{ lag(regime_state) }} AS DOUBLE)
        END as regime_step
    from rolling
),

third_pass as (
    select
        *,
        {{ slope('volume_z', 5) }} as volume_trend_5d,
        {{ rows_since_change('regime_changed', 'vol_regime_state') }} as regime_consistency,
        {{ rolling_sum('regime_step', 20) }} / 20 as regime_transition_prob
    from second_pass
),

a200_stats as (
    -- The columns in their declared order (the TA-Lib and window columns come from
    -- a200_talib and a200_windows).
    select
        ticker, date,
        vwma_10, vwma_50,
        tema_20_slope,
        -- % distances to TEMA 50 (0 when it is 0: TEMA extrapolates) and KAMA 20.
        {{ safe_div('100 * (close - tema_50)', 'tema_50', '0.0') }} as price_pct_from_tema_50,
        100 * (close - kama_20) / kama_20 as price_pct_from_kama_20,
        days_above_sma_9, days_below_sma_9, days_above_sma_50, days_below_sma_50,
        days_above_sma_200, days_below_sma_200, days_above_tema_20, days_below_tema_20,
        days_above_kama_20, days_below_kama_20, days_above_vwma_20, days_below_vwma_20,
        cross_sma_9_50 as days_since_sma_9_50_cross,
        cross_sma_50_200 as days_since_sma_50_200_cross,
        cross_tema_sma_50 as days_since_tema_sma_50_cross,
        cross_kama_sma_50 as days_since_kama_sma_50_cross,
        cross_sma_9_200 as days_since_sma_9_200_cross,
        100 * (tema_20 - sma_50) / sma_50 as tema_20_sma_50_proximity,
        100 * (kama_20 - sma_50) / sma_50 as kama_20_sma_50_proximity,
        100 * (sma_9 - sma_200) / sma_200 as sma_9_200_proximity,
        -- % distances to the Bollinger bands (lower: 0 when the band is 0).
        100 * (close - bb_upper) / bb_upper as pct_from_upper_band,
        {{ safe_div('100 * (close - bb_lower)', 'bb_lower', '0.0') }} as pct_from_lower_band,
        days_above_upper_band, days_below_lower_band,
        CAST(CASE WHEN ({{ squeeze }}) THEN 1 WHEN NOT ({{ squeeze }}) THEN 0 END AS DOUBLE)
            as bb_squeeze_indicator,
        bb_squeeze_duration,
        rsi_daily - 50 as rsi_distance_from_50,
        days_rsi_overbought, days_rsi_oversold,
        rsi_count_60 / 60 as rsi_percentile_60d,
        {{ safe_div('close - close_mean_20', 'close_std_20', '0.0') }} as zscore_from_20d_mean,
        {{ safe_div('close - close_mean_50', 'close_std_50', '0.0') }} as zscore_from_50d_mean,
        -- 52-week range position (0.5 when the 252 closes are equal) and distance to the high.
        {{ safe_div('close - close_min_252', 'close_max_252 - close_min_252', '0.5') }}
            as percentile_in_52wk_range,
        100 * (close - close_max_252) / close_max_252 as distance_from_52wk_high_pct,
        consecutive_up_days, consecutive_down_days,
        range_compression_5d,
        macd_signal,
        macd_histogram_slope,
        cross_macd_signal as days_since_macd_cross_signal,
        -- MACD line vs signal, relative to max(|signal|, 1e-6 * close) (scale-free floor).
        100 * (macd_line - macd_signal) / greatest(abs(macd_signal), 1e-6 * close)
            as macd_signal_proximity,
        volume_trend_5d,
        consecutive_volume_increase,
        volume_z * return_z as volume_price_confluence,
        high_volume_direction_bias,
        -- Calendar: weekday Monday = 0; weekdays left in the month (date excluded, month's last
        -- calendar day included) = W(last day) - W(date), W(d) = the weekdays from Monday
        -- 0001-01-01 through d.
        CAST(isodow(date) - 1 AS DOUBLE) as trading_day_of_week,
        CAST(isodow(date) = 1 AS DOUBLE) as is_monday,
        CAST(isodow(date) = 5 AS DOUBLE) as is_friday,
        CAST({{ weekdays_through('last_day(date)') }} - {{ weekdays_through('date') }} AS DOUBLE)
            as days_to_month_end,
        CAST(month(date) AS DOUBLE) as month_of_year,
        CAST(month(date) % 3 = 0 AS DOUBLE) as is_quarter_end_month,
        -- Candle shape: body and wicks as fractions of the range (neutral when high = low).
        100 * abs(close - open) / open as candle_body_pct,
        CASE WHEN high = low THEN 0.5
             ELSE {{ clip01('abs(close - open) / (high - low)') }} END as body_to_range_ratio,
        CASE WHEN high = low THEN 0.0
             ELSE {{ clip01('(high - greatest(open, close)) / (high - low)') }} END
            as upper_wick_pct,
        CASE WHEN high = low THEN 0.0
             ELSE {{ clip01('(least(open, close) - low) / (high - low)') }} END
            as lower_wick_pct,
        CAST(high <> low AND abs(close - open) / (high - low) < 0.1 AS DOUBLE) as doji_indicator,
        {{ safe_div('high - low', 'range_mean_20', '0.0') }} as range_vs_avg_range,
        -- Ichimoku (spans not displaced) and the cloud.
        (high_9 + low_9) / 2 as tenkan_sen,
        (high_26 + low_26) / 2 as kijun_sen,
        ((high_9 + low_9) / 2 + (high_26 + low_26) / 2) / 2 as senkou_span_a,
        (high_52 + low_52) / 2 as senkou_span_b,
        {% set span_a = '((high_9 + low_9) / 2 + (high_26 + low_26) / 2) / 2' %}
        {% set span_b = '(high_52 + low_52) / 2' %}
        CAST(CASE WHEN high_52 IS NULL OR high_26 IS NULL THEN NULL
                  WHEN close > greatest({{ span_a }}, {{ span_b }}) THEN 1
                  WHEN close < least({{ span_a }}, {{ span_b }}) THEN -1
                  ELSE 0 END AS DOUBLE) as price_vs_cloud,
        100 * ({{ span_a }} - {{ span_b }}) / close as cloud_thickness_pct,
        -- Donchian channel.
        donchian_upper_20, donchian_lower_20,
        CASE WHEN donchian_upper_20 = donchian_lower_20 THEN 0.5
             ELSE {{ clip01('(close - donchian_lower_20) / (donchian_upper_20 - donchian_lower_20)') }}
             END as donchian_position,
        100 * (donchian_upper_20 - donchian_lower_20) / close as donchian_width_pct,
        CASE WHEN close >= (donchian_upper_20 + donchian_lower_20) / 2
                  THEN 100 * (donchian_upper_20 - close) / close
             WHEN close < (donchian_upper_20 + donchian_lower_20) / 2
                  THEN -100 * (close - donchian_lower_20) / close END
            as pct_to_donchian_breakout,
        -- Divergences: gaps between 20-row counts, as fractions of 20.
        (close_count_20 - rsi_count_20) / 20 as price_rsi_divergence,
        (close_count_20 - obv_count_20) / 20 as price_obv_divergence,
        divergence_streak,
        divergence_gap / 20 as divergence_magnitude,
        adx_count_60 / 60 as trend_strength_pct_60d,
        CAST(vol_regime_state AS DOUBLE) as vol_regime_state,
        regime_consistency,
        regime_transition_prob
    from third_pass
)

select * from a200_stats order by ticker, date
