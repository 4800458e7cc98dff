"""Raw data: sources (synthetic, H&M CSV, Complete Journey), validation, and the raw assets."""
