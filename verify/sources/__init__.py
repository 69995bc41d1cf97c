"""Sources: where the evidence comes from, each returning the same `verify.core.tally.Tally`.

`live` (the balancer measured now over HTTP, and its target health), `logs` (the ALB's access logs,
local or in S3, through DuckDB or Athena), `stack` (the Pulumi stack's outputs: where to measure and
what to expect) and `phases` (moments another process marked during a run). A source imports
`verify.core` and its own room only: never a renderer, the judgement or another source.
"""
