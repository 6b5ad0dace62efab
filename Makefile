# Every target installs what it needs itself: a fresh clone needs only python3.11 and Java 17.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint venv validate clean e2e e2e-kind e2e-node node-prep tools images jars

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[runtime,operator,dev]'
	touch $(STAMP)

venv: $(STAMP)

# A fresh model each time (a kept checkpoint would make the job resume at its last step).
demo: $(STAMP)
	rm -rf /tmp/tfflink/linear
	$(BIN)/tfflink run examples/linear/job.yaml

# Style, types and import layers (config in pyproject.toml; .pre-commit-config.yaml runs the same).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	@# pytest imports test modules by basename: two alike would stop collection of the whole suite.
	@dups=$$(find tests -name 'test_*.py' -printf '%f\n' | sort | uniq -d); \
	  if [ -n "$$dups" ]; then echo "lint: test modules share a basename: $$dups" >&2; exit 1; fi
	$(BIN)/pytest --collect-only -q tests >/dev/null

# The whole suite; tests/e2e is part of it (it builds its tools first, see `tools`).
test: $(STAMP) lint jars tools node-prep
	$(BIN)/pytest tests

# The JVM data plane (jvm/, docs/dataplane.md): Maven builds and tests it (Flink MiniCluster),
# then the jars go into the Python package (operator/tfflink/jars, gitignored), TensorFlow Java
# and its native library under jars/tensorflow. Rebuilt only when jvm/ changed.
JARS := operator/tfflink/jars
MVN ?= mvn
JVM_INPUTS := $(shell find jvm -name pom.xml -o -path '*/src/*' -type f 2>/dev/null)
jars: $(JARS)/.built
$(JARS)/.built: $(JVM_INPUTS)
	@command -v $(MVN) >/dev/null || { echo "jars: Maven ('$(MVN)') not found; it builds jvm/" >&2; exit 1; }
	$(MVN) -q -B -f jvm/pom.xml package
	rm -rf $(JARS) && mkdir -p $(JARS)/tensorflow
	cp jvm/dataplane/target/tfflink-dataplane-0.1.0.jar $(JARS)/tfflink-dataplane.jar
	cp jvm/inference/target/tfflink-inference-0.1.0.jar $(JARS)/tfflink-inference.jar
	cp jvm/inference/target/lib/*.jar $(JARS)/tensorflow/
	touch $@

test-fast: $(STAMP)
	$(BIN)/pytest tests -m "not flink"

# helm, kwok, etcd and the Kubernetes control plane from their Go modules at pinned versions,
# cached in .tools/bin (a rebuild is skipped; Go's caches make a fresh clone's build quick).
# A failed build is not fatal here: the tests that need a missing tool skip and say why.
tools:
	TFFLINK_BUILD_JOBS=$${TFFLINK_BUILD_JOBS:-2} hack/build-tools.sh all || echo "tools: some builds failed; the e2e tests that need them will skip" >&2

# End-to-end tests: chart lint/render, images' requirements, a real control plane (etcd,
# kube-apiserver, controller-manager, scheduler, kwok) with helm install + the operator.
e2e: $(STAMP) tools node-prep
	$(BIN)/pytest tests/e2e

# The real-node tier (tests/e2e/node): containerd + kubelet on this machine, the chart installed
# with the operator as a pod from its image, pods from the runtime image. Needs root.
e2e-node: $(STAMP) tools node-prep
	$(BIN)/pytest tests/e2e/node

# Its host packages (Debian's containerd, runc, CNI plugins, buildah, ...) and images (built with
# buildah without a registry; skipped when their inputs are unchanged). Not fatal here: the node
# tests' fixture runs the same builds, so a failure shows up as a failed test with its reason.
node-prep: tools
	@if [ "$$(id -u)" = 0 ]; then \
	  hack/node-packages.sh && hack/node-images.sh build || echo "node-prep: failed; the node tier's tests will fail with the reason" >&2; \
	else echo "node-prep: not root; the node tier skips" >&2; fi

# The kind suite (needs docker + kind; skips with its reason otherwise).
e2e-kind: $(STAMP) tools
	$(BIN)/pytest tests/e2e/kind

IMAGE_TAG ?= 0.1.0
REGISTRY ?= tfflink
DOCKER ?= docker
images:
	@command -v $(DOCKER) >/dev/null || { echo "images: '$(DOCKER)' not found; building images needs Docker (or DOCKER=podman)" >&2; exit 1; }
	$(DOCKER) build -f images/operator/Dockerfile --build-arg TFFLINK_VERSION=$(IMAGE_TAG) -t $(REGISTRY)/operator:$(IMAGE_TAG) .
	$(DOCKER) build -f images/runtime/Dockerfile --build-arg TFFLINK_VERSION=$(IMAGE_TAG) -t $(REGISTRY)/runtime:$(IMAGE_TAG) .

clean:
	rm -rf $(VENV) .tfflink $(JARS) jvm/*/target
