-- a20: the tier's final model. TA-Lib columns come from a20_talib, the weekly ones from
-- a20_weekly; vwap_20 is computed here. Output: ticker, date, the 20 columns in declared order.
with source as (
    select ticker, date, close, volume, close * volume as close_volume
    from {{ source('ohlcv') }}
),

vwap as (
    select
        ticker, date,
        -- vwap_20: sum20(close * volume) / sum20(volume); close when the 20 volumes are all 0
        -- (a sum of non-negative volumes is 0 exactly when every term is). NULL without volume.
        case when {{ full('volume', 20) }} then
            case when {{ all_zero('volume', 20) }} then close
            else sum(close_volume) {{ w(20) }} / sum(volume) {{ w(20) }} end
        end as vwap_20
    from source
),

a20 as (
    select
        t.ticker, t.date,
        t.dema_9, t.dema_10, t.dema_20, t.dema_25, t.dema_90,
        t.sma_12, t.sma_50, t.sma_100, t.sma_200,
        t.rsi_daily, t.stochrsi_daily,
        wk.rsi_weekly, wk.stochrsi_weekly,
        t.macd_line, t.obv, t.adosc, t.atr_14, t.adx_14, t.bb_percent_b,
        v.vwap_20
    from {{ ref('a20_talib') }} t
    join {{ ref('a20_weekly') }} wk using (ticker, date)
    join vwap v using (ticker, date)
)

select * from a20 order by ticker, date
