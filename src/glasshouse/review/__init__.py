"""Investigative leads and their human review: results that policy says a person must check first."""
