-- One row per customer, with consistent categories (H&M mixes 'NONE' and 'None', leaves nulls).
select
    customer_id,
    cast(coalesce(FN, 0) as {{ dbt.type_int() }}) as fn,
    cast(coalesce(Active, 0) as {{ dbt.type_int() }}) as active,
    upper(coalesce(club_member_status, 'UNKNOWN')) as club_member_status,
    upper(coalesce(fashion_news_frequency, 'NONE')) as fashion_news_frequency,
    cast(age as {{ dbt.type_int() }}) as age,
    coalesce(postal_code, 'UNKNOWN') as postal_code
from {{ source('raw', 'raw_customers') }}
