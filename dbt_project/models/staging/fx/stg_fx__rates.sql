{#
    The FX rates as published (raw.fx_rates), typed and with the currency
    code trimmed and upper-cased. Published days only: int_fx_rates__daily
    builds the calendar and forward fills.
#}

with

source as (

    select * from {{ source('raw', 'fx_rates') }}

),

renamed as (

    select
        date::date                            as date_day,
        upper(trim(currency))::text           as currency,
        rate_to_usd::numeric(20, 10)          as rate_to_usd,
        source::text                          as source

    from source

)

select * from renamed
