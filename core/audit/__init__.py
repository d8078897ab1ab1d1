"""The audit log: every staff action and every view of a citizen's full phone number."""
