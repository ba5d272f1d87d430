# lamina: two commands matter — `make demo` and `make test` (see README.md).
# Both install what they need: Debian packages, then a virtualenv made from Debian's python3
# with --system-site-packages (so libseccomp's and libselinux's own bindings are visible),
# outside /tmp, byte-compiled.

VENV    ?= /opt/lamina/venv
PY      := $(VENV)/bin/python
LAMINA  := $(VENV)/bin/lamina
BUNDLES ?= /var/tmp/lamina-bundles
# what lamina itself and `make demo` need ...
RUNTIME_PKGS := busybox-static python3-seccomp python3-selinux python3-venv iproute2 libcap2-bin
# ... and what only the tests need: reference runtimes, the bench, the test VM, the real clients
TEST_PKGS := runc crun hyperfine jq \
             qemu-system-x86 debootstrap e2fsprogs kmod cpio policycoreutils \
             podman conmon catatonit uidmap containerd docker.io util-linux

.PHONY: install apt apt-runtime venv demo test unit integration lint bench clean

install: apt venv

# install whichever of the packages $(1) are missing (apt-get update only when some are)
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	   | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi
endef

apt-runtime:
	$(call apt_install,$(RUNTIME_PKGS))

apt: apt-runtime
	$(call apt_install,$(TEST_PKGS))

venv: apt-runtime
	@[ -x $(PY) ] || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check "click>=8.1" "pluggy>=1.3" "stevedore>=5.0" \
	   "pytest>=7.4" ruff
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation --force-reinstall .
	@rm -rf build *.egg-info
	@# the example third-party plugin, its own distribution installed beside lamina (tests/integration/test_landlock.py)
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation --force-reinstall \
	   ./examples/lamina-landlock
	@rm -rf examples/lamina-landlock/build examples/lamina-landlock/*.egg-info
	@# bin/lamina without `site` (python -S): ~4 ms off every call (core/launcher.py)
	@$(PY) -m lamina.launcher
	@$(PY) -m compileall -q $(VENV)/lib >/dev/null
	@$(LAMINA) --version

demo: apt-runtime venv
	@$(PY) -m lamina.demo --lamina $(LAMINA) --bundles $(BUNDLES)

test: install lint
	$(PY) -m pytest -p no:cacheprovider -q -rs tests

unit: install
	$(PY) -m pytest -p no:cacheprovider -q tests/unit

integration: install
	$(PY) -m pytest -p no:cacheprovider -q tests/integration

lint: venv
	$(VENV)/bin/ruff check core plugins tests bench

bench: install
	$(PY) bench/bench.py --lamina $(LAMINA)

clean:
	rm -rf build *.egg-info examples/lamina-landlock/build examples/lamina-landlock/*.egg-info
