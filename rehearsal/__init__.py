"""The local rehearsal: the stack's shape on one machine, no AWS account.

One real nginx process per replica, each on its own loopback address (the way each ECS task has its
own IP in a subnet of its zone), behind one real HAProxy per zone that routes like the ALB's node
there; then verify measures it. `python -m rehearsal` is the command; `Rehearsal(plan)` is the library the
tests and the benchmark use:

    with Rehearsal(Plan.from_settings(settings)) as running:
        verify.cli.main(running.plan.verify_args())
"""

import importlib

# Imported when first used, so `python -m rehearsal` holds Ctrl-C (rehearsal/__main__.py) before the
# heavy imports run: a package that imported them here would take a Ctrl-C in its first 0.1 s as a traceback.
_WHERE = {
    "Plan": "rehearsal.plan",
    "ReplicaPlan": "rehearsal.plan",
    "Zone": "rehearsal.plan",
    "RehearsalError": "rehearsal.processes",
    "Rehearsal": "rehearsal.stage",
    "Running": "rehearsal.stage",
}
__all__ = ["Plan", "Rehearsal", "RehearsalError", "ReplicaPlan", "Running", "Zone"]


def __getattr__(name: str) -> object:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'rehearsal' has no attribute {name!r}")
