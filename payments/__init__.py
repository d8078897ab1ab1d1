"""Payments: fines (罚款决定) and payment orders with WeChat Pay v3 and Alipay adapters.
Depends on core only. Built by the payments issue."""
