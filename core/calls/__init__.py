"""Hotline calls: the AMI event reducer (``events``), its persistence (``service``, ``repository``).

The asyncio bridge in ``hotline/`` feeds events in batches; everything here is synchronous and pure
where it can be (``events`` has no I/O and no clock).
"""
