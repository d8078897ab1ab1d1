"""Electronic payment receipts (电子缴款凭证) and the citizen's payment history.

A receipt is rendered on demand from the paid order, its decision and the bureau name, and the
rendering is deterministic (no clock, no random ids in the PDF): generating it twice yields the same
bytes, so nothing is stored and nothing can drift from the books. ``service.issue`` is what the job
``payments.receipt`` runs after a payment is applied.
"""
