-- The test split.
select * from {{ ref('transactions_split') }} where split = 'test'
