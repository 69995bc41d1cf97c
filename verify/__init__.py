"""verify: measure whether every replica behind the load balancer serves, and whether the split is even.

Layers, each testable alone: `measure` (HTTP: resolve, wait for ready, send, tally), `judge`
(statistics over the tally: a verdict), `render` (terminal report and JSON to a writer), `stack`
(the Pulumi stack's outputs) and `cli` (`main(argv) -> int`, the one place exceptions become exit codes).
"""
