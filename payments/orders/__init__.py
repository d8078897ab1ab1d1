"""Payment orders for fines: creation, notifications, settlement."""
