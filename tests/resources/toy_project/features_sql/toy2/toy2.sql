with source as (
    select * from {{ ref('toy') }}
),
logic as (
    select t.*, v.close as vix_level
    from source t asof left join {{ source('raw', 'vix') }} v on t.date >= v.date
)
select * from logic
