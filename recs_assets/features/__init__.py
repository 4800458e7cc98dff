"""Features: an NVTabular workflow fit on the train split, and the transformed splits."""
