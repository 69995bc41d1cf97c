"""The ground floor: what every other room of verify may import, and which imports none of them.

`tally` (what a measurement returns, counted, with no judgement), `errors` (the one error type),
`numbers` (the one reader of every number fed to verify), `progress` (the events sources report and
the terminal prints), `text` (text from outside cut, escaped and redacted), `replica_ids` (what
names a replica, for every source alike), `addresses` (both families' addresses, `[v6]:port`) and
`files` (paths from outside opened safely).
"""
