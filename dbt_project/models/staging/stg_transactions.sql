-- Purchase lines as loaded, plus every file appended since through the landing zone (once one has).
-- H&M repeats a line once per unit bought; deduplicated downstream.
{% set landed = source('landing', 'landed_transactions') %}
{% set landed_exists = execute and adapter.get_relation(
    database=landed.database, schema=landed.schema, identifier=landed.identifier) is not none %}
{% for relation in [source('raw', 'raw_transactions')] + ([landed] if landed_exists else []) %}
{% if not loop.first %}union all{% endif %}
select
    cast(t_dat as date) as t_dat,
    customer_id,
    article_id,
    cast(price as {{ dbt.type_float() }}) as price,
    cast(sales_channel_id as {{ dbt.type_int() }}) as sales_channel_id,
    load_id
from {{ relation }}
{% endfor %}
