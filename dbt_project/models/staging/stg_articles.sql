-- One row per article with its catalogue features.
select
    article_id,
    product_code,
    prod_name,
    product_type_no,
    product_type_name,
    product_group_name,
    graphical_appearance_no,
    colour_group_code,
    perceived_colour_value_id,
    perceived_colour_master_id,
    department_no,
    index_code,
    index_group_no,
    section_no,
    garment_group_no
from {{ source('raw', 'raw_articles') }}
