-- One row: where validation and test start. From vars when given, else the last split_days of data
-- are test and the split_days before them validation.
with last_day as (
    select max(t_dat) as last_date from {{ ref('transactions_dedup') }}
),
test_start as (
    select
        last_date,
        {% if var('test_start') %}
        cast('{{ var("test_start") }}' as date)
        {% else %}
        cast({{ dbt.dateadd('day', 1 - var('split_days') | int, 'last_date') }} as date)
        {% endif %} as test_start
    from last_day
)
select
    {% if var('validation_start') %}
    cast('{{ var("validation_start") }}' as date)
    {% else %}
    cast({{ dbt.dateadd('day', 0 - var('split_days') | int, 'test_start') }} as date)
    {% endif %} as validation_start,
    test_start,
    last_date
from test_start
