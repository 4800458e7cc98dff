-- The train split.
select * from {{ ref('transactions_split') }} where split = 'train'
