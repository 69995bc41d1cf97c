"""verify: measure whether every replica behind the load balancer serves, and whether the split is even.

Layers, each testable alone. Measuring, split the way hey splits it: `client` (the URL and one
pinned connection), `readiness` (wait until the replicas answer), `sending` (the measured requests,
a tally), `progress` (the events both report) and `health` (the balancer's target health, read).
Then `judge` (statistics over the tally: a verdict), `render` (terminal report and JSON to a
writer), `stack` (the Pulumi stack's outputs) and `cli` (`main(argv) -> int`, the one place
exceptions become exit codes).
"""
