"""Reply templates (答复模板): reusable answers to citizens, kept by administrators."""
