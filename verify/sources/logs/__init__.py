"""The access-log source: the requests real clients sent, from the ALB's logs, counted into a tally.

`line` (a log line as verify reads it: the one definition, in Python and as DuckDB's SQL), `query` (the
one SQL text both engines run), `reader` (local files with DuckDB, the window, rows to a tally) and
`athena` (S3 objects fetched for DuckDB, or Athena over the stack's table).
"""
