"""Refunds of fine payments: requested by staff, sent by a job, finished by the provider's answer."""
