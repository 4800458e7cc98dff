{# Rows of the model for which the SQL boolean expression is not true. #}
{% test dbt_expression_is_true(model, expression) %}
select * from {{ model }} where not ({{ expression }})
{% endtest %}
