"""Rendering: a verdict and its tally written for a reader; nothing here measures or decides.

`terminal` (the terminal report, the JSON object and the progress line), `html` (the --report page),
`job_summary` (GitHub's step summary) and `outputs` (writing those files whole or not at all).
Imports `verify.core` and `verify.judging`, never a source.
"""
