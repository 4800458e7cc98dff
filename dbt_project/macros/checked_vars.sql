{#
  The only way the models read the run's vars. Dagster validates its run config before dbt starts; these
  check again for whoever runs dbt by hand with --vars, and render the SQL from the parsed value, never from
  the string given, so a var can only ever become a date literal or an integer.
#}

{# cast('YYYY-MM-DD' as date) from var(name): YYYY-M-D, D in the month, else a compile error naming both. #}
{% macro date_var(name) %}
    {%- set value = var(name) -%}
    {%- set text = value | string | trim -%}
    {%- set problem = "var " ~ name ~ "='" ~ value ~ "' is not a date (YYYY-MM-DD)" -%}
    {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}', text) -%}
        {{ exceptions.raise_compiler_error(problem) }}
    {%- endif -%}
    {%- set parts = text.split('-') | map('int') | list -%}
    {%- if parts[0] < 1 or parts[1] < 1 or parts[1] > 12 or parts[2] < 1 or parts[2] > 31 -%}
        {{ exceptions.raise_compiler_error(problem) }}
    {%- endif -%}
    {#- datetime.date would raise a bare ValueError on 2020-02-30: count the days from the 1st instead -#}
    {%- set day = modules.datetime.date(parts[0], parts[1], 1) + modules.datetime.timedelta(days=parts[2] - 1) -%}
    {%- if day.month != parts[1] -%}
        {{ exceptions.raise_compiler_error(problem) }}
    {%- endif -%}
    {%- do return("cast('" ~ day.isoformat() ~ "' as date)") -%}
{% endmacro %}

{# var(name) as an integer of at least ``minimum`` (a number for Jinja arithmetic), else a compile error. #}
{% macro int_var(name, minimum=1) %}
    {%- set value = var(name) -%}
    {%- if value is not integer or value < minimum -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ "='" ~ value ~ "' is not an integer >= " ~ minimum) }}
    {%- endif -%}
    {%- do return(value) -%}
{% endmacro %}
