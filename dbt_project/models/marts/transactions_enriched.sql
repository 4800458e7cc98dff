-- Deduplicated purchases joined with article and customer features, for kept customers only.
select
    t.transaction_id,
    t.t_dat,
    {{ dbt.date_trunc('month', 't.t_dat') }} as purchase_month,
    t.customer_id,
    t.article_id,
    t.price,
    t.sales_channel_id,
    t.quantity,
    c.fn,
    c.active,
    c.club_member_status,
    c.fashion_news_frequency,
    c.age,
    c.postal_code,
    a.product_code,
    a.product_type_no,
    a.product_group_name,
    a.graphical_appearance_no,
    a.colour_group_code,
    a.perceived_colour_value_id,
    a.perceived_colour_master_id,
    a.department_no,
    a.index_code,
    a.index_group_no,
    a.section_no,
    a.garment_group_no
from {{ ref('transactions_dedup') }} t
join {{ ref('customer_activity') }} k on k.customer_id = t.customer_id
join {{ ref('stg_customers') }} c on c.customer_id = t.customer_id
join {{ ref('stg_articles') }} a on a.article_id = t.article_id
