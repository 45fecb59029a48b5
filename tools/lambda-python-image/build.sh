#!/usr/bin/env bash
# Vendored from the team's shared tools (../shared/tools/lambda-python-image/, with its README of
# measured facts), so that CI on a clean clone on a new machine needs nothing outside the repository.
# Builds a local stand-in for public.ecr.aws/lambda/python:3.13-x86_64 (the base image that
# `sam local invoke|start-api --skip-pull-image` builds its rapid image FROM) without any
# container registry: Debian bookworm minbase (debootstrap, apt mirror) + a copy of a Python 3.13
# build at /var/lang + awslambdaric/boto3 from PyPI in /var/runtime + a /var/runtime/bootstrap.
#
# Needs: root, debootstrap (apt-get install debootstrap), a running dockerd, a CPython 3.13 built
# for glibc <= bookworm's (pyenv's, built on Debian 12, is what this was tried with).
# Usage: build.sh [python_prefix]   (default ~/.pyenv/versions/3.13.0)
set -euo pipefail

PYPREFIX=${1:-${PYPREFIX:-$HOME/.pyenv/versions/3.13.0}}
TAG=${TAG:-public.ecr.aws/lambda/python:3.13-x86_64}
WORK=${WORK:-$(mktemp -d /tmp/lambda-image.XXXXXX)}
# The Debian mirror this machine's apt already uses.
MIRROR=${MIRROR:-$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)}
MIRROR=${MIRROR:-$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)}
[ -n "$MIRROR" ] || { echo "no apt mirror found; set MIRROR" >&2; exit 1; }
# The RIE is optional in the base image (SAM ADDs its own); used only by /lambda-entrypoint.sh.
RIE=${RIE:-}

PY="$PYPREFIX/bin/python3.13"
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 13), sys.version'
command -v debootstrap >/dev/null || { echo "apt-get install -y debootstrap" >&2; exit 1; }

t0=$(date +%s)
rm -rf "$WORK"
mkdir -p "$WORK"
ROOTFS="$WORK/rootfs"

# 1. Debian bookworm minbase + the shared libraries CPython's extension modules link against.
debootstrap --variant=minbase \
  --include=ca-certificates,libssl3,libffi8,libsqlite3-0,libreadline8,libncursesw6,libexpat1,libbz2-1.0,liblzma5,zlib1g,libuuid1,tzdata \
  bookworm "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -30 "$WORK/debootstrap.log" >&2; exit 1; }
t1=$(date +%s)

# Trim what a Lambda image never uses.
rm -rf "$ROOTFS"/var/cache/apt/* "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/doc/* \
  "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/var/log/*.log "$ROOTFS"/var/cache/debconf/*-old
find "$ROOTFS"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true

# 2. Python 3.13 at /var/lang (as in the Lambda image), without tests, IDLE, Tk and the static lib.
mkdir -p "$ROOTFS/var/lang"
tar -C "$PYPREFIX" -cf - \
  --exclude='./lib/python3.13/test' --exclude='./lib/python3.13/idlelib' \
  --exclude='./lib/python3.13/tkinter' --exclude='./lib/python3.13/turtledemo' \
  --exclude='./lib/python3.13/lib-dynload/_tkinter*' --exclude='*.a' \
  --exclude='./lib/python3.13/site-packages/*.pth' \
  . | tar -C "$ROOTFS/var/lang" -xf -
# Scripts' shebangs and the binary's RUNPATH name the original prefix: rewrite / link them.
grep -rlI "^#!$PYPREFIX" "$ROOTFS/var/lang/bin" | xargs -r sed -i "1s|^#!$PYPREFIX/bin/|#!/var/lang/bin/|"
mkdir -p "$ROOTFS$(dirname "$PYPREFIX")"
ln -sfn /var/lang "$ROOTFS$PYPREFIX"
# The Lambda runtime puts /var/runtime (awslambdaric, boto3) after site-packages on sys.path.
echo /var/runtime >"$ROOTFS/var/lang/lib/python3.13/site-packages/lambda-runtime.pth"

# 3. The runtime interface client and the SDK, as the Lambda python3.13 image carries them.
mkdir -p "$ROOTFS/var/runtime" "$ROOTFS/var/task" "$ROOTFS/opt"
"$PY" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
  --only-binary=:all: --target "$ROOTFS/var/runtime" awslambdaric boto3 2>&1 | grep -v 'is ignored' || true
test -f "$ROOTFS/var/runtime/awslambdaric/bootstrap.py"
rm -rf "$ROOTFS/var/runtime/bin"

# 4. The bootstrap the RIE starts (it looks for /var/task/bootstrap, /opt/bootstrap, /var/runtime/bootstrap).
cat >"$ROOTFS/var/runtime/bootstrap" <<'EOF'
#!/bin/sh
# Stand-in for the python3.13 Lambda runtime's bootstrap: awslambdaric talks to $AWS_LAMBDA_RUNTIME_API.
export AWS_EXECUTION_ENV="${AWS_EXECUTION_ENV:-AWS_Lambda_python3.13}"
# sys.path order as on Lambda: task root, layers, then stdlib/site-packages, then /var/runtime (.pth).
export PYTHONPATH="${LAMBDA_TASK_ROOT:-/var/task}:/opt/python/lib/python3.13/site-packages:/opt/python${PYTHONPATH:+:$PYTHONPATH}"
exec /var/lang/bin/python3.13 -m awslambdaric "${_HANDLER:-$AWS_LAMBDA_FUNCTION_HANDLER}"
EOF
chmod 755 "$ROOTFS/var/runtime/bootstrap"

# /lambda-entrypoint.sh as in the real image (used only when the image is run directly).
cat >"$ROOTFS/lambda-entrypoint.sh" <<'EOF'
#!/bin/sh
if [ $# -ne 1 ]; then echo "entrypoint requires the handler name to be the first argument" 1>&2; exit 142; fi
export _HANDLER="$1"
RUNTIME_ENTRYPOINT=/var/runtime/bootstrap
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  exec /usr/local/bin/aws-lambda-rie $RUNTIME_ENTRYPOINT
else
  exec $RUNTIME_ENTRYPOINT
fi
EOF
chmod 755 "$ROOTFS/lambda-entrypoint.sh"
if [ -n "$RIE" ]; then install -m 755 "$RIE" "$ROOTFS/usr/local/bin/aws-lambda-rie"; fi

# Precompile /var/runtime so cold starts don't write .pyc files.
chroot "$ROOTFS" /usr/bin/env LD_LIBRARY_PATH=/var/lang/lib /var/lang/bin/python3.13 -m compileall -q /var/runtime >/dev/null || true
# Smoke test inside the rootfs.
chroot "$ROOTFS" /usr/bin/env -i LD_LIBRARY_PATH=/var/lang/lib PATH=/var/lang/bin:/usr/bin:/bin \
  /var/lang/bin/python3.13 -c 'import ssl, sqlite3, ctypes, lzma, bz2, zlib, uuid, awslambdaric.bootstrap, boto3; print("rootfs ok", boto3.__version__)'
t2=$(date +%s)

# 5. Import with the real image's configuration (ENV, WORKDIR, ENTRYPOINT).
tar -C "$ROOTFS" --numeric-owner -cf - . | docker import \
  --change 'ENV LANG=en_US.UTF-8' \
  --change 'ENV TZ=:/etc/localtime' \
  --change 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin' \
  --change 'ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib' \
  --change 'ENV LAMBDA_TASK_ROOT=/var/task' \
  --change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
  --change 'WORKDIR /var/task' \
  --change 'ENTRYPOINT ["/lambda-entrypoint.sh"]' \
  - "$TAG" >/dev/null
t3=$(date +%s)
rm -rf "$ROOTFS"

echo "built $TAG: debootstrap $((t1 - t0))s, python+runtime $((t2 - t1))s, docker import $((t3 - t2))s, total $((t3 - t0))s"
docker image ls "${TAG%:*}"
