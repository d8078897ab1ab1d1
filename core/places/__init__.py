"""Public toilets and parking lots: nearest search, opening hours, live parking availability."""
