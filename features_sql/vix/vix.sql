-- vix: the tier's final model, the 8 vix columns in declared order. All the logic lives in
-- vix_asof (untrimmed, so that other tiers can ref it); the engine trims this output.
with source as (
    select * from {{ ref('vix_asof') }}
),

vix as (
    select
        ticker, date,
        vix_close, vix_sma_10, vix_sma_20, vix_percentile_60d,
        vix_zscore_20d, vix_regime, vix_change_1d, vix_change_5d
    from source
)

select * from vix
