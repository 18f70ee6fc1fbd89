"""Speed benchmarks (``glasshouse bench``)."""
