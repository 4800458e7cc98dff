-- The validation split.
select * from {{ ref('transactions_split') }} where split = 'validation'
