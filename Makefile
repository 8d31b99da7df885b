# Two commands for a fresh Debian machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

# Qt offscreen needs the first line; a real X window (Xvfb) the second; fonts so text renders on a bare
# machine; PyInstaller needs binutils; the desktop installer and its tests use the next three (the tests
# also hide xdg-utils from PATH to cover the installer's own fallback); the PostgreSQL sink, `migrate` and
# their tests (which start a throwaway server) use the next two; `space` is checked against sqlite3_analyzer;
# the MQTT source's tests start a mosquitto broker of their own.
APT_PACKAGES := libegl1 libgl1 libx11-6 libdbus-1-3 libfontconfig1 libfreetype6 libglib2.0-0 libxkbcommon0 \
	xvfb xauth libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0 \
	libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 \
	fonts-dejavu-core \
	binutils \
	desktop-file-utils shared-mime-info xdg-utils \
	postgresql libpq5 \
	sqlite3-tools mosquitto

.PHONY: run test lint bench package package-smoke system-deps clean

$(VENV)/.installed: pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "Installing system packages: $$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else \
			echo "Missing system packages. Run:"; echo "  sudo apt-get install -y $$missing"; exit 1; \
		fi; \
	fi

run: $(VENV)/.installed
	@if [ -z "$$DISPLAY$$WAYLAND_DISPLAY$$QT_QPA_PLATFORM" ]; then \
		echo "No display found: run this in a desktop session, or headless with: xvfb-run -a make run"; exit 1; fi
	$(PY) -m desktop_app --demo

test: $(VENV)/.installed
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

lint: $(VENV)/.installed
	$(PY) -m ruff check desktop_app tests bench packaging
	$(PY) -m mypy desktop_app

# One at a time, each against a baseline measured in the same run (they measure the machine).
bench: $(VENV)/.installed
	$(PY) -m desktop_app bench ingest
	$(PY) bench/sample_cost.py
	$(PY) bench/query_cancel.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/gui_responsiveness.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/table_open.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/gui_actions.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/open_during_stream.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/browse.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/completion.py
	$(PY) bench/search_pages.py
	$(PY) bench/plot_build.py
	$(PY) bench/import_csv.py
	$(PY) bench/export.py
	$(PY) bench/space.py
	$(PY) bench/postgres.py
	$(PY) bench/migrate_vs_pgloader.py
	$(PY) bench/retention.py
	$(PY) bench/mqtt.py
	@if [ -x dist/sqlite-pulse/sqlite-pulse ]; then $(PY) bench/startup.py; else echo 'bench/startup.py needs the bundle: make package'; fi

package: $(VENV)/.installed
	bash packaging/build.sh $(PY)

package-smoke: package
	bash packaging/smoke.sh

clean:
	rm -rf build dist $(VENV)
