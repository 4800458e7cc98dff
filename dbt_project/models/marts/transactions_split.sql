-- Every enriched purchase labelled train / validation / test by date.
select
    e.*,
    case
        when e.t_dat < b.validation_start then 'train'
        when e.t_dat < b.test_start then 'validation'
        else 'test'
    end as split
from {{ ref('transactions_enriched') }} e
cross join {{ ref('split_boundaries') }} b
