"""Local fake WeChat Pay v3 and Alipay gateways speaking the real wire protocol (signed replies,
signed notifications), for the tests and for the development demo (``ZHCG_PAYMENTS__SANDBOX``).
Never used in production: settings refuse the sandbox outside development."""
