-- The train split: the train_weeks weeks before validation (see split_boundaries). Customer activity
-- and the candidate/ranking stage still read the whole history.
select s.*
from {{ ref('transactions_split') }} s
cross join {{ ref('split_boundaries') }} b
where s.split = 'train' and s.t_dat >= b.train_start
