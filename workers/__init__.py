"""Background workers: RQ jobs (photos, notifications, SLA clock, payment polling) and cron."""
