with source as (
    select * from {{ ref('toy') }}
),
logic as (
    select t.*, v.close as vix_level
    from source t left join {{ as_of('vix') }} v using (ticker, date)
)
select * from logic
