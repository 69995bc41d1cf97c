"""The deploy hook's evidence: what ECS and the load balancer say of a deploy at one lifecycle stage.

`payload` (the event ECS sends a Lambda hook, read strictly: its stage, the service, green's revision
and the weights, the hook's own settings and what an earlier call at the same stage carried), `fleet`
(which task is which revision, by ECS's ListTasks and DescribeTasks, and the listener rules' weights and
target health, by ELBv2's DescribeRules and DescribeTargetHealth), `stage` (from those to what the stage
must show: the replicas that answer and their weights, or a decision that needs no measuring) and
`carry` (a measurement spread over several calls, kept in `hookDetails`). Like every source it imports
`verify.core` and its own room only; `verify.hook`, at the top, measures through the live source and
judges with the same checks as every run.
"""
