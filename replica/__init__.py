"""The replica: what each ECS task (and each rehearsal process) serves.

The response contract, which `verify` relies on. Every path but the health path answers
`200` with `Content-Type: application/json`, `Cache-Control: no-store`, a header
`X-Replica: <id>` and the body

    {"replica": "<id>", "hostname": "<host name>", "ip": "<private IP>", "port": "<port>"}

where `<id>` is the replica's own IP address in its subnet, unique per ECS task (on Fargate each
task has its own elastic network interface) and per rehearsal process (each has its own loopback
address), and `hostname` is the task's host name (`ip-10-0-1-23.ec2.internal` on Fargate). The
health path answers `200` with `{"status": "ok"}`; from its stop signal until it stops, `503` with
`{"status": "stopping"}` while every other path keeps answering (see `replica.nginx.graceful_command`).
"""
