"""The local rehearsal: the stack's shape on one machine, no AWS account.

One real nginx process per replica, each on its own loopback address (the way each ECS task has its
own IP in a subnet of its zone), behind one real HAProxy per zone that routes like the ALB's node
there; then verify measures it. `python -m rehearsal` is the command; `Rehearsal(plan)` is the library the
tests and the benchmark use:

    with Rehearsal(Plan.from_settings(settings)) as running:
        verify.cli.main(running.plan.verify_args())
"""

from rehearsal.plan import Plan, ReplicaPlan, Zone
from rehearsal.processes import RehearsalError
from rehearsal.stage import Rehearsal, Running

__all__ = ["Plan", "Rehearsal", "RehearsalError", "ReplicaPlan", "Running", "Zone"]
