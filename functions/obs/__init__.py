"""Observability: correlation ids on every log record (``context``) and CloudWatch metrics as
embedded-metric-format log lines (``metrics``). Nothing here imports boto3 or the domain."""
