"""Independent reference implementation of the fts feature tiers (see ``features.py``)."""
