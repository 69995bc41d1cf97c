"""Judging: from a tally and what was expected to a verdict, with no I/O.

`stats` (chi-square tails and power, no scipy), `pattern` (how the balancer behaved, from the order of
the answers), `evidence` (the numbers a verdict rests on) and `judge` (the checks and the verdict).
Imports only `verify.core`: every source's tally is judged by the same checks.
"""
