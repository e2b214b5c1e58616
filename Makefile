# lumbarqi: `make demo` and `make test` work on a fresh machine: they create
# .venv, install the Python and Debian packages they need, then do the job.
VENV      := .venv
PY        := $(VENV)/bin/python
PIP       := $(VENV)/bin/pip
STAMP     := $(VENV)/.installed
# Debian packages the tests and demo use (installed only when missing).
DEB_PACKAGES := orthanc orthanc-dicomweb dcmtk poppler-utils podman runc debootstrap chromium

.PHONY: setup system-deps test demo clean help

help:
	@echo "make demo   - generate a phantom study into demo/input and run lumbarqi on it"
	@echo "make test   - run the whole test suite"
	@echo "make setup  - only create .venv and install"

setup: $(STAMP) system-deps

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

test: setup
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
