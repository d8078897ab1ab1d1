"""Daily reconciliation of each provider's bill with our books.

- ``lines``: what a bill says, one ``BillLine`` per payment or refund (integer fen, always positive).
- ``wechat_bill`` / ``alipay_bill``: pure parsers of the real bill formats; a malformed bill raises
  ``BillUnreadable`` (``bill_unreadable``) before anything is stored.
- ``compare``: the pure comparison of bill lines with the day's books → mismatches and totals.
- ``repository`` / ``service``: the day's books (local day in Asia/Shanghai) and the stored run, one
  per (channel, bill date); re-running a day replaces its items. Services never commit.
- ``fetch``: download and parse one bill with the channel's adapter.
- ``plan``: which (channel, day) a job runs (hourly cron: yesterday, once the local hour has come).
"""
