-- One row: where train, validation and test start. From vars when given, else the last split_days of data
-- are test and the split_days before them validation. Train is the train_weeks weeks before validation
-- (when null: the most recent whole weeks holding at most train_max_rows purchases, at least one week;
-- all earlier data when both are null). Vars are read through checked_vars.sql's macros only.
with last_day as (
    select max(t_dat) as last_date from {{ ref('transactions_dedup') }}
),
test_start as (
    select
        last_date,
        {% if var('test_start') %}
        {{ date_var('test_start') }}
        {% else %}
        cast({{ dbt.dateadd('day', 1 - int_var('split_days'), 'last_date') }} as date)
        {% endif %} as test_start
    from last_day
),
validation_start as (
    select
        {% if var('validation_start') %}
        {{ date_var('validation_start') }}
        {% else %}
        cast({{ dbt.dateadd('day', 0 - int_var('split_days'), 'test_start') }} as date)
        {% endif %} as validation_start,
        test_start,
        last_date
    from test_start
),
weeks_back as (
    -- purchases per week before validation (week 0 ends the day before it), summed from the latest back
    select week, sum(count(*)) over (order by week) as rows_since
    from (
        select floor(({{ dbt.datediff('t.t_dat', 'v.validation_start', 'day') }} - 1) / 7.0) as week
        from {{ ref('transactions_dedup') }} t cross join validation_start v
        where t.t_dat < v.validation_start
    ) d
    group by week
)
select
    {% if var('train_weeks') %}
    cast({{ dbt.dateadd('day', 0 - 7 * int_var('train_weeks'), 'validation_start') }} as date)
    {% elif var('train_max_rows') %}
    cast({{ dbt.dateadd('day', '-7 * (select coalesce(max(week), 0) + 1 from weeks_back where rows_since <= '
                                ~ int_var('train_max_rows') ~ ')', 'validation_start') }} as date)
    {% else %}
    (select min(t_dat) from {{ ref('transactions_dedup') }})
    {% endif %} as train_start,
    validation_start,
    test_start,
    last_date
from validation_start
