# lumbarqi as a MONAI Application Package (MAP) image, also an XNAT container-service image.
#
# Build with scripts/build_image.sh (it fills NRG_COMMANDS from xnat/command.json and, under
# podman, mounts the host's pip certificate and find-links folders). By hand:
#   docker build -t lumbarqi/lumbarqi:0.1.0 \
#     --build-arg NRG_COMMANDS="$(python3 -c 'import json;print(json.dumps([json.load(open("xnat/command.json"))]))')" .
#
# Layout (MAP / Holoscan application package conventions):
#   /opt/holoscan/app      application code: app/, operators/, lumbarqi/, pyproject.toml, __main__.py
#   /opt/holoscan/models   networks (one folder per task)
#   /var/holoscan/input    default input  (HOLOSCAN_INPUT_PATH)
#   /var/holoscan/output   default output (HOLOSCAN_OUTPUT_PATH)
#   /etc/holoscan/app.json, /etc/holoscan/pkg.json   MAP manifests
# Runs as the non-root user "holoscan" (uid 1000); needs no network at run time.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG LUMBARQI_VERSION=0.1.0
# The org.nrg.commands label value: a JSON list holding xnat/command.json (one line).
ARG NRG_COMMANDS="[]"
# torch: the CPU wheel by default. For a GPU image pass e.g.
#   --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_INDEX_URL=""
# Set by the build script when the host has them (pip reads them from the environment).
ARG PIP_FIND_LINKS
ARG PIP_CERT

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Non-root user and the MAP folders.
RUN set -eu; \
    if command -v useradd >/dev/null 2>&1; then \
        groupadd -g 1000 holoscan && useradd -u 1000 -g 1000 -m -d /home/holoscan -s /bin/sh holoscan; \
    else \
        echo 'holoscan:x:1000:1000:lumbarqi:/home/holoscan:/bin/sh' >> /etc/passwd; \
        echo 'holoscan:x:1000:' >> /etc/group; mkdir -p /home/holoscan; chown 1000:1000 /home/holoscan; \
    fi; \
    mkdir -p /opt/holoscan/app /opt/holoscan/models /opt/holoscan/docs /etc/holoscan \
             /var/holoscan/input /var/holoscan/output /var/holoscan/logs /input /output

# Python environment: torch first (the CPU wheel), then the pinned dependencies of
# pyproject.toml, then the CUDA runtime library holoscan-cu13 loads even on a CPU.
COPY pyproject.toml /opt/holoscan/app/pyproject.toml
RUN set -eu; \
    python3 -m venv /opt/venv; \
    pip install --quiet --upgrade pip; \
    if [ -n "$TORCH_INDEX_URL" ]; then pip install --quiet --index-url "$TORCH_INDEX_URL" "$TORCH_SPEC"; \
    else pip install --quiet "$TORCH_SPEC"; fi; \
    python3 -c "import tomllib; d = tomllib.load(open('/opt/holoscan/app/pyproject.toml', 'rb')); print('\n'.join(d['project']['dependencies']))" > /tmp/requirements.txt; \
    pip install --quiet -r /tmp/requirements.txt "nvidia-cuda-runtime==13.*"; \
    rm -f /tmp/requirements.txt; \
    python3 -c "import torch; assert '+cpu' in torch.__version__ or torch.version.cuda, torch.__version__; print('torch', torch.__version__)"

# holoscan-cu13 needs libcudart from the wheel above on the loader path, CPU or not.
ENV LD_LIBRARY_PATH=/opt/venv/lib/python3.11/site-packages/nvidia/cu13/lib

# holoscan finishes its own installation on first import and must write to site-packages:
# do that here, as root, before switching user. Also build matplotlib's font cache once.
RUN set -eu; \
    python3 -c "import holoscan.core, monai.deploy.core; print('holoscan', holoscan.__version__)"; \
    mkdir -p /opt/mplconfig; MPLCONFIGDIR=/opt/mplconfig python3 -c "import matplotlib.font_manager"; \
    chmod -R a+rwX /opt/mplconfig

# Application code and models.
COPY app /opt/holoscan/app/app
COPY operators /opt/holoscan/app/operators
COPY lumbarqi /opt/holoscan/app/lumbarqi
COPY models /opt/holoscan/models
COPY app.yaml /opt/holoscan/app/app.yaml
COPY xnat/command.json /opt/holoscan/docs/xnat-command.json

# `python3 /opt/holoscan/app` (the MAP convention) runs the same graph as `python app`;
# manifests; byte-compile so a cold start does not compile; folders writable for any uid
# (XNAT and Kubernetes may run the container under another uid).
RUN set -eu; \
    printf '%s\n' \
      '"""MAP entry point: python3 /opt/holoscan/app [-i IN] [-o OUT] [-m MODELS] (HOLOSCAN_* env otherwise)."""' \
      'import sys' \
      'from app.runner import main' \
      'raise SystemExit(main(sys.argv[1:]))' > /opt/holoscan/app/__main__.py; \
    python3 -c "import json; \
env = {'HOLOSCAN_APPLICATION': '/opt/holoscan/app', 'HOLOSCAN_INPUT_PATH': '/var/holoscan/input', \
 'HOLOSCAN_OUTPUT_PATH': '/var/holoscan/output', 'HOLOSCAN_WORKDIR': '/var/holoscan', \
 'HOLOSCAN_MODEL_PATH': '/opt/holoscan/models', 'HOLOSCAN_CONFIG_PATH': '/opt/holoscan/app/app.yaml', \
 'HOLOSCAN_APP_MANIFEST_PATH': '/etc/holoscan/app.json', 'HOLOSCAN_PKG_MANIFEST_PATH': '/etc/holoscan/pkg.json', \
 'HOLOSCAN_DOCS_PATH': '/opt/holoscan/docs', 'HOLOSCAN_LOGS_PATH': '/var/holoscan/logs'}; \
app = {'apiVersion': '1.0.0', 'command': json.dumps(['python3', '/opt/holoscan/app']), 'environment': env, \
 'input': {'path': 'input/', 'formats': None}, 'output': {'path': 'output/', 'format': None}, \
 'readiness': None, 'liveness': None, 'timeout': 0, 'version': 1.0, 'workingDirectory': '/var/holoscan'}; \
pkg = {'apiVersion': '1.0.0', 'applicationRoot': '/opt/holoscan/app', 'modelRoot': '/opt/holoscan/models', \
 'models': {}, 'resources': {'cpu': 2, 'gpu': 0, 'memory': '3Gi', 'gpuMemory': None}, \
 'version': '${LUMBARQI_VERSION}', 'platformConfig': 'cpu'}; \
import os; pkg['models'] = {m: '/opt/holoscan/models/' + m for m in sorted(os.listdir('/opt/holoscan/models')) if os.path.isdir('/opt/holoscan/models/' + m)}; \
json.dump(app, open('/etc/holoscan/app.json', 'w'), indent=2); json.dump(pkg, open('/etc/holoscan/pkg.json', 'w'), indent=2)"; \
    python3 -m compileall -q /opt/holoscan/app; \
    chown -R 1000:1000 /var/holoscan /output; \
    chmod 1777 /var/holoscan /var/holoscan/output /var/holoscan/logs /output

LABEL org.nrg.commands="${NRG_COMMANDS}" \
      org.opencontainers.image.title="lumbarqi" \
      org.opencontainers.image.description="Quantitative lumbar spine MRI: segmentation, morphometry, OpenSim loads, DICOM SEG/SR (MONAI Application Package)" \
      org.opencontainers.image.version="${LUMBARQI_VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONPATH=/opt/holoscan/app \
    HOLOSCAN_APPLICATION=/opt/holoscan/app \
    HOLOSCAN_INPUT_PATH=/var/holoscan/input \
    HOLOSCAN_OUTPUT_PATH=/var/holoscan/output \
    HOLOSCAN_MODEL_PATH=/opt/holoscan/models \
    HOLOSCAN_WORKDIR=/var/holoscan \
    HOLOSCAN_CONFIG_PATH=/opt/holoscan/app/app.yaml \
    HOLOSCAN_APP_MANIFEST_PATH=/etc/holoscan/app.json \
    HOLOSCAN_PKG_MANIFEST_PATH=/etc/holoscan/pkg.json \
    HOLOSCAN_DOCS_PATH=/opt/holoscan/docs \
    HOLOSCAN_LOGS_PATH=/var/holoscan/logs \
    HOLOSCAN_LOG_LEVEL=ERROR \
    MPLCONFIGDIR=/opt/mplconfig \
    HOME=/home/holoscan

USER 1000:1000
WORKDIR /var/holoscan
ENTRYPOINT ["/opt/venv/bin/python3", "/opt/holoscan/app"]
