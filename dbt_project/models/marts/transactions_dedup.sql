-- One row per distinct purchase line; repeated identical lines become a quantity.
select
    {{ dbt.hash(dbt.concat([
        dbt.cast("t_dat", dbt.type_string()), "'|'", "customer_id", "'|'",
        dbt.cast("article_id", dbt.type_string()), "'|'", dbt.cast("price", dbt.type_string()), "'|'",
        dbt.cast("sales_channel_id", dbt.type_string())
    ])) }} as transaction_id,
    t_dat,
    customer_id,
    article_id,
    price,
    sales_channel_id,
    count(*) as quantity
from {{ ref('stg_transactions') }}
group by t_dat, customer_id, article_id, price, sales_channel_id
