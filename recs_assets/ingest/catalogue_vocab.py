"""Fixed vocabularies the synthetic generator draws from, shaped after H&M's article metadata."""

from __future__ import annotations

# (product_type_no, product_type_name, product_group_name, garment_group_no, base price,
#  seasonal peak day-of-year or None, seasonal amplitude)
PRODUCT_TYPES: list[tuple[int, str, str, int, float, int | None, float]] = [
    (255, "T-shirt", "Garment Upper body", 1002, 0.017, 180, 0.3),
    (252, "Sweater", "Garment Upper body", 1003, 0.034, 350, 0.5),
    (254, "Top", "Garment Upper body", 1005, 0.020, 170, 0.3),
    (258, "Blouse", "Garment Upper body", 1010, 0.030, None, 0.0),
    (259, "Shirt", "Garment Upper body", 1011, 0.028, None, 0.0),
    (245, "Hoodie", "Garment Upper body", 1005, 0.030, 320, 0.4),
    (253, "Vest top", "Garment Upper body", 1002, 0.012, 190, 0.5),
    (262, "Jacket", "Garment Upper body", 1006, 0.060, 310, 0.6),
    (264, "Coat", "Garment Upper body", 1007, 0.080, 340, 0.8),
    (272, "Trousers", "Garment Lower body", 1009, 0.035, None, 0.0),
    (274, "Shorts", "Garment Lower body", 1025, 0.020, 190, 0.8),
    (275, "Skirt", "Garment Lower body", 1012, 0.028, 160, 0.4),
    (273, "Leggings/Tights", "Garment Lower body", 1013, 0.018, None, 0.0),
    (265, "Dress", "Garment Full body", 1013, 0.040, 170, 0.4),
    (267, "Jumpsuit/Playsuit", "Garment Full body", 1013, 0.035, 180, 0.4),
    (306, "Bra", "Underwear", 1017, 0.022, None, 0.0),
    (286, "Underwear bottom", "Underwear", 1017, 0.010, None, 0.0),
    (304, "Underwear Tights", "Socks & Tights", 1021, 0.012, 10, 0.4),
    (302, "Socks", "Socks & Tights", 1021, 0.008, None, 0.0),
    (59, "Swimwear bottom", "Swimwear", 1018, 0.015, 160, 1.0),
    (298, "Bikini top", "Swimwear", 1018, 0.018, 160, 1.0),
    (285, "Pyjama set", "Nightwear", 1017, 0.028, 350, 0.3),
    (87, "Boots", "Shoes", 1020, 0.070, 330, 0.6),
    (88, "Sneakers", "Shoes", 1020, 0.050, None, 0.0),
    (66, "Bag", "Accessories", 1019, 0.030, None, 0.0),
    (67, "Earring", "Accessories", 1019, 0.008, None, 0.0),
    (70, "Hat/beanie", "Accessories", 1019, 0.012, 5, 0.7),
    (72, "Scarf", "Accessories", 1019, 0.015, 10, 0.7),
    (80, "Sunglasses", "Accessories", 1019, 0.012, 175, 0.9),
    (95, "Necklace", "Accessories", 1019, 0.010, None, 0.0),
]

# (colour_group_code, perceived_colour_value_id, perceived_colour_master_id, relative frequency)
COLOURS: list[tuple[int, int, int, float]] = [
    (9, 4, 5, 0.22), (10, 3, 9, 0.12), (73, 4, 2, 0.08), (7, 2, 12, 0.05), (13, 1, 11, 0.05),
    (72, 2, 2, 0.04), (8, 4, 12, 0.04), (52, 1, 4, 0.04), (42, 3, 18, 0.03), (19, 4, 19, 0.03),
    (11, 1, 11, 0.03), (17, 2, 1, 0.03), (71, 1, 2, 0.03), (12, 1, 11, 0.02), (43, 4, 18, 0.02),
    (93, 4, 19, 0.02), (51, 1, 4, 0.02), (6, 3, 12, 0.02), (23, 1, 8, 0.02), (31, 3, 20, 0.02),
]

GRAPHICAL_APPEARANCES: list[int] = [1010016, 1010001, 1010010, 1010017, 1010014, 1010002, 1010004]

# (index_code, index_group_no, section numbers)
INDEXES: list[tuple[str, int, tuple[int, ...]]] = [
    ("A", 1, (16, 15, 18, 11, 6)),
    ("B", 1, (61, 62, 65)),
    ("C", 1, (64, 66)),
    ("D", 2, (53, 51, 57, 2)),
    ("F", 3, (21, 20, 23, 26)),
    ("G", 4, (44, 41)),
    ("H", 4, (46, 43)),
    ("I", 4, (77, 76)),
    ("J", 4, (42, 40)),
    ("S", 26, (5, 8)),
]

NAME_WORDS: list[str] = [
    "Luna", "Jade", "Perrie", "Tilda", "Timeless", "Skinny", "Mom", "Ellie", "Basic", "Cora",
    "Harvey", "Bella", "Moa", "Kim", "Dolly", "Alba", "Juniper", "Sienna", "Ivy", "Noor",
]
