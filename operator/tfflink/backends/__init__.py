"""Where jobs run: a local Flink session cluster, or Kubernetes."""
