"""verify: measure whether every replica behind the load balancer serves, and whether the split is even.

The folders are the layers, and imports run down them only (tests/verify/test_verify_layers.py holds it):

- `cli` and `boundary` (top): `main(argv) -> int`, the one place where every outcome becomes an exit
  code and one line; the process's edge (stop signals, a stdout that never raises).
- `sources/` gather evidence into a tally: `live` (HTTP now, target health), `logs` (access logs),
  `stack` (the stack's outputs), `phases` (marks from another process).
- `rendering/` writes a verdict and its tally: terminal, JSON, HTML, GitHub's job summary.
- `judging/` turns a tally into a verdict: statistics, the balancer's pattern, the checks.
- `core/` is what all of them share: the tally, the one error type, the one number reader, ids, text.

A source never imports a renderer or the judgement; a renderer never imports a source; every source
feeds the same tally, so the same checks judge it and the same renderers print it.
"""
