-- Every enriched purchase labelled train / validation / test by date. A view: the label is one CASE over
-- transactions_enriched, and only the three small split tables read it (at H&M's size a table of it was a
-- 29.5M-row copy, 45 s to write and 16 s to test for uniqueness: dbt build 124 s as a table, 88 s as a view).
{{ config(materialized='view') }}
select
    e.*,
    case
        when e.t_dat < b.validation_start then 'train'
        when e.t_dat < b.test_start then 'validation'
        else 'test'
    end as split
from {{ ref('transactions_enriched') }} e
cross join {{ ref('split_boundaries') }} b
