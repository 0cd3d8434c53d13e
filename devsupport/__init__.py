"""Real components for the tests, the demo and the benchmark (not part of the product).

``locals3``: a SeaweedFS S3 server on loopback. ``faultproxy``: an HTTP proxy that injects
faults between a client and it. ``flinkcluster``: a standalone Flink cluster on stand-in
hosts (network namespaces), with Beam worker pools. ``privatetmp``: a private /tmp for
such a host. ``service``: the start/stop base they share.
"""
