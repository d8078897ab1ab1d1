"""WeChat (微信) mini-program server API adapters."""
