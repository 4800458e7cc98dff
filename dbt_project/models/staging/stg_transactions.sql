-- Purchase lines as loaded; H&M repeats a line once per unit bought, deduplicated downstream.
select
    cast(t_dat as date) as t_dat,
    customer_id,
    article_id,
    cast(price as {{ dbt.type_float() }}) as price,
    cast(sales_channel_id as {{ dbt.type_int() }}) as sales_channel_id,
    load_id
from {{ source('raw', 'raw_transactions') }}
