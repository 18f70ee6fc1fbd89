"""Media store tests."""
