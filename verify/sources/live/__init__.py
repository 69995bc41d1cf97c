"""The live source: requests sent to the balancer now, split the way hey splits it.

`client` (the URL, how a replica is told apart, one kept-alive connection pinned to one address),
`readiness` (wait until the replicas answer), `sending` (the measured requests, a tally) and `health`
(the balancer's own target health, from HAProxy's stats page or AWS).
"""
