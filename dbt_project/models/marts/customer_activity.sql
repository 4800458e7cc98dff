-- Customers kept for modelling: at least min_customer_purchases distinct purchases in the train
-- period (counted before validation starts, so the filter never looks at held-out weeks).
select
    t.customer_id,
    count(*) as train_purchases,
    min(t.t_dat) as first_purchase,
    max(t.t_dat) as last_train_purchase
from {{ ref('transactions_dedup') }} t
cross join {{ ref('split_boundaries') }} b
where t.t_dat < b.validation_start
group by t.customer_id
having count(*) >= {{ int_var('min_customer_purchases') }}
