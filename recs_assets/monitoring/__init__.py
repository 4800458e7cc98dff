"""What happens after a list is published: backtests against later purchases, drift, freshness."""
