{#
  Time splits must not overlap: every day of an earlier split comes strictly before every day of the
  next one (order given as a list, e.g. train, validation, test). Returns the offending pairs.
  Also fails when a split in the list is empty.
#}
{% test splits_ordered_in_time(model, column_name, split_column, order) %}
with ranges as (
    select {{ split_column }} as split_name,
           min({{ column_name }}) as first_day,
           max({{ column_name }}) as last_day
    from {{ model }}
    group by {{ split_column }}
),
expected as (
    {% for name in order %}
    select '{{ name }}' as split_name, {{ loop.index }} as position
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),
placed as (
    select e.split_name, e.position, r.first_day, r.last_day
    from expected e
    left join ranges r on r.split_name = e.split_name
)
select earlier.split_name as earlier_split, later.split_name as later_split,
       earlier.last_day as earlier_last_day, later.first_day as later_first_day
from placed earlier
join placed later on later.position = earlier.position + 1
where earlier.last_day >= later.first_day
   or earlier.last_day is null
   or later.first_day is null
{% endtest %}
