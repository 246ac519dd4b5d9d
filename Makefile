# `make demo` and `make test` set everything up themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
CSRC := $(wildcard compressor/coder/csrc/*.c compressor/coder/csrc/*.h)
EXT := compressor/coder/_coder$(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")

.PHONY: demo test lint build asan clean

$(STAMP): setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "setuptools==84.2.1" wheel
	EQINFO_WERROR=1 $(PY) -m pip install --quiet --no-build-isolation -e ".[dev]"
	touch $(STAMP)

# The C extension, rebuilt whenever a source changes; warnings are errors.
$(EXT): $(STAMP) $(CSRC) setup.py
	EQINFO_WERROR=1 $(PY) setup.py --quiet build_ext --inplace --force
	touch $(EXT)

build: $(EXT)

demo: build
	$(VENV)/bin/eqinfo demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

test: build lint
	$(PY) -m pytest -q

# The fuzz and property tests against an AddressSanitizer + UBSan build of the extension.
asan: $(STAMP)
	EQINFO_ASAN=1 $(PY) setup.py --quiet build_ext --inplace --force
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
		$(PY) -m pytest -q tests/test_fuzz.py tests/test_equal_info.py tests/test_range_coder.py
	EQINFO_WERROR=1 $(PY) setup.py --quiet build_ext --inplace --force

clean:
	rm -rf build $(VENV) compressor/coder/*.so *.egg-info
