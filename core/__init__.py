"""Domain core of zhcg: imports nothing above it (see docs/architecture.md)."""
