"""The Kubernetes backend: manifests of a Flink session cluster, pod observation, API calls.

Everything here is plain functions over dicts (builders, observers) plus one thin API wrapper,
so the operator's kopf handlers stay small and the builders are unit-tested without a cluster.
"""
