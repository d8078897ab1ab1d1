"""Hotline: the asyncio bridge to the Asterisk Manager Interface (panoramisk) that turns 12319/12345
calls into work orders, call-backs and follow-ups. Built by the hotline issue."""
