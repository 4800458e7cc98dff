{# Fails unless the model holds exactly one row (a model that others cross join must not multiply them). #}
{% test one_row(model) %}
select count(*) as n from {{ model }} having count(*) <> 1
{% endtest %}
