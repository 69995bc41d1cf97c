"""Reusable Pulumi components: the network, the load balancer and the replica service."""
