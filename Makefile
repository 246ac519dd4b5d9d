# `make demo` and `make test` set everything up themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
CSRC := $(wildcard compressor/coder/csrc/*.c compressor/coder/csrc/*.h)
EXT := compressor/coder/_coder$(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")

.PHONY: demo test lint build asan fuzz-c gpu-check clean

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

# Every GPU claim measured in one run (~8 min on one GPU) into build/gpu-check/gpu_check.json;
# `tools/gpu_check.py --smoke` runs the same checks on a CPU (tests/test_gpu_check.py).
gpu-check: build
	$(PY) tools/gpu_check.py --out build/gpu-check

# The C fuzz harness on the plain C core (no Python) under AddressSanitizer + UBSan, leaks
# included; tests/test_c_harness.py runs a short plain build of it in `make test`.
FUZZ_CORE := $(addprefix compressor/coder/csrc/,range_coder.c quantize.c equal_info.c)
FUZZ_CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer -ffp-contract=off -fno-fast-math \
	-Wall -Wextra -Wshadow -Wno-unused-parameter -Wno-missing-field-initializers -Werror
FUZZ_SANITIZE ?= -fsanitize=address,undefined -fno-sanitize-recover=all  # empty: a plain, quick build
FUZZ_BIN ?= build/fuzz_coder
FUZZ_ITERATIONS ?= 3000
FUZZ_SEED ?= 1

fuzz-c:
	mkdir -p $(dir $(FUZZ_BIN))
	gcc $(FUZZ_CFLAGS) $(FUZZ_SANITIZE) compressor/coder/csrc/fuzz/fuzz_coder.c $(FUZZ_CORE) -o $(FUZZ_BIN)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(FUZZ_BIN) $(FUZZ_ITERATIONS) $(FUZZ_SEED)

# The C fuzz harness, then the fuzz and property tests against an AddressSanitizer + UBSan build
# of the extension.
asan: $(STAMP) fuzz-c
	EQINFO_ASAN=1 $(PY) setup.py --quiet build_ext --inplace --force
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
		$(PY) -m pytest -q tests/test_fuzz.py tests/test_equal_info.py tests/test_range_coder.py tests/test_quantize.py tests/test_m1_kernels.py
	EQINFO_WERROR=1 $(PY) setup.py --quiet build_ext --inplace --force

clean:
	rm -rf build $(VENV) compressor/coder/*.so *.egg-info
