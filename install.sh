#!/bin/sh
# Install ocirt and what it needs on Debian 12 (as root), then run a container.
#   ./install.sh            install, build the busybox bundle, run it
#   OCIRT_NO_DEMO=1 ./install.sh   install only
set -eu
cd "$(dirname "$0")"

export DEBIAN_FRONTEND=noninteractive
# Debian packages: the static busybox for the example bundle, a C compiler and
# Python headers for the cffi shim, libseccomp for seccomp filters.
packages="busybox-static gcc libc6-dev python3-dev libseccomp-dev"
# For the test suite and bench/: the real callers ocirt is tested under
# (containerd, podman with conmon), the runtimes it is compared with, and tools.
packages="$packages containerd podman conmon golang-github-containers-common uidmap
          containernetworking-plugins runc crun hyperfine time tmux"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    apt-get update -q
    apt-get -o DPkg::Lock::Timeout=600 install -y -q $missing
fi

# The Python package from this checkout (jsonschema, cffi; builds csrc/ into ocirt/_shim here,
# so the tests and the command run the same tree), and for the tests: pytest, hypothesis
# (generated bad input), grpcio (the Kubernetes CRI client).
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -e . pytest "hypothesis==6.155.2" "hypothesis-jsonschema==0.23.1" grpcio grpcio-tools protobuf
# Replace pip's console script with one that starts Python without site start-up (ocirt/launcher.py).
(cd / && python3 -m ocirt.launcher)

sh bundles/busybox/make-rootfs
if [ -z "${OCIRT_NO_DEMO:-}" ]; then
    ocirt_bin="$(python3 -c 'import os, sys; print(os.path.join(os.path.dirname(sys.executable), "ocirt"))')"
    "$ocirt_bin" run --bundle bundles/busybox "demo-$$"
fi
