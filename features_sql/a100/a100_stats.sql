-- a100_stats: a100's SQL columns for every raw (ticker, date), untrimmed. Inputs: raw OHLCV, the
-- untrimmed models of the tiers below (a20_talib, a50_stats, a50_recursive, vix_asof) and
-- a100's Python models (a100_talib for stoch_k_14 and the A/D line, a100_recursive for VPT).
-- "r" is the daily simple return and "100 * r" is return_1d (a50_stats).
with source as (
    select
        o.ticker, o.date, o.open, o.high, o.low, o.close,
        t.sma_50, t.sma_200, t.adx_14, t.obv,
        s.return_1d, s.return_5d, s.r, s.log_return, s.sharpe_20d, s.sortino_20d,
        s.atr_pct, s.bb_width,
        rc.qqe_fast, rc.stc, rc.kvo, rc.kvo_signal,
        p.stoch_k_14, p.ad,
        q.vpt,
        v.vix_close
    from {{ source('ohlcv') }} o
    join {{ ref('a20_talib') }} t using (ticker, date)
    join {{ ref('a50_stats') }} s using (ticker, date)
    join {{ ref('a50_recursive') }} rc using (ticker, date)
    join {{ ref('a100_talib') }} p using (ticker, date)
    join {{ ref('a100_recursive') }} q using (ticker, date)
    left join {{ ref('vix_asof') }} v using (ticker, date)
),

row_inputs as (
    select
        *,
        -- DeMarker inputs: demax = max(high - high_{t-1}, 0), demin = max(low_{t-1} - low, 0).
        {{ pos_part('high - ' ~ lag('high')) }} as demax,
        {{ pos_part(lag('low') ~ ' - low') }} as demin,
        -- Sortino downside input min(r, 0).
        {{ neg_part('r') }} as r_down,
        -- Per-row range-volatility terms (Parkinson, Garman-Klass).
        pow(ln(high / low), 2) / (4 * ln(2)) as parkinson_term,
        0.5 * pow(ln(high / low), 2) - (2 * ln(2) - 1) * pow(ln(close / open), 2)
            as garman_klass_term,
        -- obv_slope input: OBV change over 5 rows.
        {{ slope('obv', 5) }} as obv_change_5,
        -- kvo_histogram input: KVO minus its signal line.
        kvo - kvo_signal as kvo_gap,
        -- win / loss split of the daily % return for win_rate_20d and expectancy_20d.
        case when return_1d > 0 then 1.0 when return_1d is not null then 0.0 end as is_win,
        case when return_1d < 0 then 1.0 when return_1d is not null then 0.0 end as is_loss,
        case when return_1d > 0 then return_1d when return_1d is not null then 0.0 end as win_pct,
        case when return_1d < 0 then -return_1d when return_1d is not null then 0.0 end as loss_pct,
        -- 1- and 5-row changes of input columns (final columns; computed here, where the rows
        -- are already ordered for the lags above, so that no later stage needs its own window).
        {{ slope('return_1d', 1) }} as return_1d_acceleration,
        {{ slope('return_5d', 1) }} as return_5d_acceleration,
        {{ slope('qqe_fast', 5) }} as qqe_slope,
        {{ slope('stc', 5) }} as stc_slope,
        {{ slope('sharpe_20d', 1) }} as sharpe_slope_20d,
        {{ slope('sortino_20d', 1) }} as sortino_slope_20d,
        {{ slope('sma_50', 5) }} as sma_50_slope,
        {{ slope('sma_200', 5) }} as sma_200_slope,
        {{ slope('adx_14', 5) }} as adx_slope
    from source
),

rolling as (
    select
        *,
        -- DeMarker: SMA14 of demax and demin, and the exact "both sums are 0" test.
        {{ rolling_mean('demax', 14) }} as demax_14,
        {{ rolling_mean('demin', 14) }} as demin_14,
        {{ all_zero('demax', 14) }} and {{ all_zero('demin', 14) }} as demarker_flat,
        -- vrp_5d input: RV_5 = 100 * sqrt(252) * std5(log return).
        100 * {{ sqrt_year() }} * {{ rolling_std('log_return', 5) }} as rv_5,
        -- sharpe_252d / sortino_252d inputs.
        {{ rolling_mean('r', 252) }} as mean_r_252,
        {{ rolling_std('r', 252) }} as std_r_252,
        {{ rolling_std('r_down', 252, like='r') }} as std_down_252,
        -- var_95, var_99: 20-row quantiles of 100 * r (linear interpolation), both from one
        -- windowed quantile_cont (a list of [q0.05, q0.01]; same values as two separate calls).
        case when {{ full('return_1d', 20) }} then
            quantile_cont(return_1d, [0.05, 0.01]) {{ w(20) }}
        end as var_quantiles,
        -- sma_9_50_proximity input: SMA9 of close.
        {{ rolling_mean('close', 9) }} as sma_9,
        -- *_percentile_60d: share of the last 60 values (today included) <= today's.
        {{ percentile_rank('atr_pct', 60) }} as atr_pct_percentile_60d,
        {{ percentile_rank('bb_width', 60) }} as bb_width_percentile_60d,
        -- Parkinson / Garman-Klass 20-row means.
        {{ rolling_mean('parkinson_term', 20) }} as parkinson_mean_20,
        {{ rolling_mean('garman_klass_term', 20) }} as garman_klass_mean_20,
        -- vol_of_vol input: s_t = sqrt(252) * std5(r).
        {{ sqrt_year() }} * {{ rolling_std('r', 5) }} as vol_5,
        -- obv_slope, kvo_histogram denominators (exactly 0 on a flat window).
        {{ rolling_std('obv_change_5', 20) }} as obv_change_std_20,
        {{ rolling_std('kvo_gap', 20) }} as kvo_gap_std_20,
        -- volume_price_trend / accumulation_dist denominators: |mean20|.
        abs({{ rolling_mean('vpt', 20) }}) as vpt_abs_mean_20,
        abs({{ rolling_mean('ad', 20) }}) as ad_abs_mean_20,
        -- win_rate_20d / expectancy_20d: counts and sums of wins and losses over 20 rows.
        -- (each is NULL exactly where return_1d is, so they share its count).
        {{ rolling_sum('is_win', 20, like='return_1d') }} as wins_20,
        {{ rolling_sum('is_loss', 20, like='return_1d') }} as losses_20,
        {{ rolling_sum('win_pct', 20, like='return_1d') }} as win_pct_sum_20,
        {{ rolling_sum('loss_pct', 20, like='return_1d') }} as loss_pct_sum_20,
        -- fib_range_position: 44-row low / high.
        {{ rolling_min('low', 44) }} as low_44,
        {{ rolling_max('high', 44) }} as high_44,
        -- prior_*_20d_dist: max high / min low of the 20 rows BEFORE today.
        case when count(high) {{ w_prior(20) }} = 20 then max(high) {{ w_prior(20) }} end
            as prior_high_20,
        case when count(low) {{ w_prior(20) }} = 20 then min(low) {{ w_prior(20) }} end
            as prior_low_20
    from row_inputs
),

final_rows as (
    -- Every a100 column that needs no further window (second_pass computes the others), so
    -- that second_pass carries only what the output needs.
    select
        ticker, date,
        -- return_*_acceleration: change of return_1d / return_5d over 1 row (row_inputs).
        return_1d_acceleration,
        return_5d_acceleration,
        -- qqe_slope (row_inputs), qqe_extreme_dist.
        qqe_slope,
        {{ extreme_dist('qqe_fast', 20, 80) }} as qqe_extreme_dist,
        -- stc_slope (row_inputs), stc_extreme_dist.
        stc_slope,
        {{ extreme_dist('stc', 25, 75) }} as stc_extreme_dist,
        -- demarker_14 (0.5 when both SMAs are 0) and its distance from 0.5.
        case when demax_14 is null or demin_14 is null then null
             when demarker_flat then 0.5
             else demax_14 / (demax_14 + demin_14) end as demarker_14,
        case when demax_14 is null or demin_14 is null then null
             when demarker_flat then 0.0
             else demax_14 / (demax_14 + demin_14) - 0.5 end as demarker_from_half,
        -- stoch_extreme_dist on TA-Lib's slow %K (a100_talib).
        {{ extreme_dist('stoch_k_14', 20, 80) }} as stoch_extreme_dist,
        -- vrp_5d: NULL when the VIX value is stale (vrp_slope: second_pass).
        vix_close - rv_5 as vrp_5d,
        -- sharpe_252d, sortino_252d: as the 20/60-row versions (0 when the std is 0).
        {{ safe_div(sqrt_year() ~ ' * mean_r_252', 'std_r_252', '0.0') }} as sharpe_252d,
        {{ safe_div(sqrt_year() ~ ' * mean_r_252', 'std_down_252', '0.0') }} as sortino_252d,
        -- sharpe_slope_20d, sortino_slope_20d: 1-row changes of the a50 ratios (row_inputs).
        sharpe_slope_20d,
        sortino_slope_20d,
        -- var_95, var_99 (in %; cvar_95: second_pass).
        var_quantiles[1] as var_95,
        var_quantiles[2] as var_99,
        -- sma_9_50_proximity, sma_*_slope (row_inputs).
        100 * (sma_9 - sma_50) / sma_50 as sma_9_50_proximity,
        sma_50_slope,
        sma_200_slope,
        -- percentiles of atr_pct and bb_width.
        atr_pct_percentile_60d,
        bb_width_percentile_60d,
        -- parkinson_volatility, garman_klass_volatility (mean clamped at 0 before the sqrt).
        100 * sqrt({{ var('trading_days_per_year') }} * parkinson_mean_20)
            as parkinson_volatility,
        100 * sqrt({{ var('trading_days_per_year') }} * {{ pos_part('garman_klass_mean_20') }})
            as garman_klass_volatility,
        -- adx_slope (row_inputs).
        adx_slope,
        -- obv_slope = d / std20(d), d = 5-row OBV change; 0 when the std is 0.
        {{ safe_div('obv_change_5', 'obv_change_std_20', '0.0') }} as obv_slope,
        -- volume_price_trend = VPT / |mean20(VPT)|; 0 when the mean is 0.
        {{ safe_div('vpt', 'vpt_abs_mean_20', '0.0') }} as volume_price_trend,
        -- kvo_histogram = (KVO - signal) / std20(KVO - signal); 0 when the std is 0.
        {{ safe_div('kvo_gap', 'kvo_gap_std_20', '0.0') }} as kvo_histogram,
        -- accumulation_dist = AD / |mean20(AD)|; 0 when the mean is 0.
        {{ safe_div('ad', 'ad_abs_mean_20', '0.0') }} as accumulation_dist,
        -- win_rate_20d: % of the last 20 daily returns that are > 0.
        100.0 * wins_20 / 20 as win_rate_20d,
        -- expectancy_20d: p * mean(wins) - (1 - p) * mean(|losses|), an empty side counts 0.
        (wins_20 / 20) * (case when wins_20 > 0 then win_pct_sum_20 / wins_20 else 0.0 end)
            - (1 - wins_20 / 20)
            * (case when losses_20 > 0 then loss_pct_sum_20 / losses_20 else 0.0 end)
            as expectancy_20d,
        -- buying_pressure_ratio: close's position in today's range; 0.5 when high = low.
        case when high = low then 0.5 else (close - low) / (high - low) end
            as buying_pressure_ratio,
        -- fib_range_position: close's position in the 44-row range; 0.5 when it is 0.
        case when low_44 is null or high_44 is null then null
             when high_44 = low_44 then 0.5
             else (close - low_44) / (high_44 - low_44) end as fib_range_position,
        -- prior_high_20d_dist, prior_low_20d_dist: % distance to the prior 20-row extremes.
        100 * (close - prior_high_20) / prior_high_20 as prior_high_20d_dist,
        100 * (close - prior_low_20) / prior_low_20 as prior_low_20d_dist,
        -- second_pass inputs (not a100 columns).
        return_1d,
        vol_5
    from rolling
),

second_pass as (
    select
        *,
        -- cvar_95: mean of the window's 100 * r values at or below var_95.
        case when var_95 is not null then
            list_avg(list_filter(list(return_1d) {{ w(20) }}, lambda v: v <= var_95))
        end as cvar_95,
        -- vol_of_vol: std20 of vol_5.
        {{ rolling_std('vol_5', 20) }} as vol_of_vol,
        -- vrp_slope: 1-row change of vrp_5d.
        {{ slope('vrp_5d', 1) }} as vrp_slope
    from final_rows
),

a100_stats as (
    -- The columns in their declared order.
    select
        ticker, date,
        return_1d_acceleration, return_5d_acceleration, qqe_slope, qqe_extreme_dist, stc_slope,
        stc_extreme_dist, demarker_14, demarker_from_half, stoch_extreme_dist, vrp_5d, vrp_slope,
        sharpe_252d, sortino_252d, sharpe_slope_20d, sortino_slope_20d, var_95, var_99, cvar_95,
        sma_9_50_proximity, sma_50_slope, sma_200_slope, atr_pct_percentile_60d,
        bb_width_percentile_60d, parkinson_volatility, garman_klass_volatility, vol_of_vol,
        adx_slope, obv_slope, volume_price_trend, kvo_histogram, accumulation_dist, win_rate_20d,
        expectancy_20d, buying_pressure_ratio, fib_range_position, prior_high_20d_dist,
        prior_low_20d_dist
    from second_pass
)

select * from a100_stats order by ticker, date
