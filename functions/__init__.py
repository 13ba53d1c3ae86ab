"""Domain code of the credit risk classification platform.

Modules here take plain values, Arrow tables or injected clients/sessions; nothing creates
an AWS client at import time.
"""
