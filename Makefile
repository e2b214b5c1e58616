# lumbarqi: `make demo` and `make test` work on a fresh machine: they create
# .venv, install the Python and Debian packages they need, then do the job.
VENV      := .venv
PY        := $(VENV)/bin/python
PIP       := $(VENV)/bin/pip
STAMP     := $(VENV)/.installed
# Debian packages the tests and demo use (installed only when missing).
DEB_PACKAGES := orthanc orthanc-dicomweb dcmtk poppler-utils podman runc debootstrap chromium nodejs libgdcm-tools libopenjp2-tools openjph-tools

# The real-viewer test (tests/reporting/test_ohif.py): the prebuilt OHIF viewer package and
# puppeteer-core, both pinned, installed under tests/viewer (ignored by git).
VIEWER_DIR   := tests/viewer
OHIF_VERSION := 3.13.2
OHIF_SHA1    := 26a51ffcc1704c30fff403258a1d7392e9a991f3
OHIF_DIR     := $(VIEWER_DIR)/.cache/ohif-$(OHIF_VERSION)

.PHONY: setup system-deps viewer-deps test lint demo clean help

help:
	@echo "make demo   - generate a phantom study into demo/input and run lumbarqi on it"
	@echo "make test   - run the whole test suite"
	@echo "make setup  - only create .venv and install"
	@echo "make lint   - ruff (style, imports, bugbear, naming, complexity <= 15) and mypy on lumbarqi/; make test runs it first"

setup: $(STAMP) system-deps viewer-deps

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e ".[dev]"
	touch $(STAMP)

system-deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

viewer-deps: system-deps $(OHIF_DIR)/index.html $(VIEWER_DIR)/node_modules/.installed

$(OHIF_DIR)/index.html:
	@command -v npm >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null)
	rm -rf $(VIEWER_DIR)/.cache/pack $(OHIF_DIR) && mkdir -p $(VIEWER_DIR)/.cache/pack $(OHIF_DIR)
	cd $(VIEWER_DIR)/.cache/pack && npm pack --silent @ohif/app@$(OHIF_VERSION) >/dev/null
	echo "$(OHIF_SHA1)  $(VIEWER_DIR)/.cache/pack/ohif-app-$(OHIF_VERSION).tgz" | sha1sum -c --quiet
	tar -xzf $(VIEWER_DIR)/.cache/pack/ohif-app-$(OHIF_VERSION).tgz -C $(OHIF_DIR) --strip-components=2 package/dist
	rm -rf $(VIEWER_DIR)/.cache/pack

$(VIEWER_DIR)/node_modules/.installed: $(VIEWER_DIR)/package.json $(VIEWER_DIR)/package-lock.json
	@command -v npm >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null)
	cd $(VIEWER_DIR) && npm ci --silent --no-audit --no-fund --ignore-scripts
	touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check lumbarqi app operators tests scripts
	$(VENV)/bin/mypy lumbarqi

test: setup lint
	$(PY) -m pytest -q tests

demo: setup
	rm -rf demo
	$(VENV)/bin/lumbarqi phantom --out demo/input --seed 1 --preview
	$(VENV)/bin/lumbarqi run -i demo/input/DICOM -o demo/output; test $$? -le 3
	@echo
	$(PY) scripts/demo_summary.py demo/input demo/output
	@echo
	@echo "demo study: demo/input (DICOM/ is the study; truth.json is what lumbarqi should find; preview.png)"
	@echo "results:    demo/output (results.json, report.pdf, dicom/)"

clean:
	rm -rf $(VENV) demo .pytest_cache
