# Shared by scripts/test-systemd and scripts/test-deb (sourced, not run): a Debian bookworm
# system booted under systemd in a podman container, and the checks' helpers. Needs root.

if [ "$(id -u)" != 0 ]; then
    echo "$0 needs root: podman boots systemd in a privileged container" >&2
    exit 1
fi

# Installs the Debian packages named that are missing (command:package pairs).
need_tools() {
    local missing=()
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}
need_tools podman:podman runc:runc mmdebstrap:mmdebstrap

work=$PWD/target/container-tests
mkdir -p "$work"
# runc, not crun (crun refuses hybrid cgroup hierarchies); limits under this machine's hard
# limits (runc cannot raise them, and podman's defaults would).
cat > "$work/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=16384:16384"]
[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF="$work/containers.conf"

# Boots a container of bookworm with systemd and the packages named (comma-separated; cached
# as a tarball per list) and sets $name.
boot() {
    local packages="systemd,systemd-sysv,dbus,$1"
    local rootfs="$work/rootfs-${packages//,/-}.tar"
    if [ ! -f "$rootfs" ]; then
        echo "== building the root filesystem ($packages)"
        mmdebstrap --quiet --format=tar --variant=minbase --include="$packages" bookworm "$rootfs.part"
        mv "$rootfs.part" "$rootfs"
    fi
    local image="localhost/oarn-test-${packages//,/-}:latest"
    podman import --quiet "$rootfs" "$image" >/dev/null
    name="oarn-test-$$"
    trap cleanup EXIT
    # BOOT_NETWORK=host shares the host's network, so the system reaches servers a script
    # runs on the host's loopback.
    podman run --detach --privileged --systemd=always ${BOOT_NETWORK:+--network "$BOOT_NETWORK"} \
        --name "$name" "$image" /sbin/init >/dev/null
    until_ok 60 booted || { echo "systemd did not boot in the container" >&2; exit 1; }
    # Shared mount propagation, as a host's systemd sets up: podman's root is private, so
    # the credentials directory systemd mounts for a unit (from a helper's mount namespace)
    # would stay empty, and no credential would reach the node.
    inside mount --make-rshared /
}

cleanup() {
    if [ -n "${name:-}" ] && [ -z "${OARN_KEEP_CONTAINER:-}" ]; then
        podman rm --force --time 5 "$name" >/dev/null 2>&1 || true
    fi
}

inside() { podman exec "$name" "$@"; }
# The oarn command as the service's user, against the service's home.
as_oarn() { inside runuser -u oarn -- env OARN_HOME=/var/lib/oarn oarn "$@"; }
booted() { inside systemctl is-system-running | grep -Eq 'running|degraded'; }

failed=0
pass() { echo "ok   $1"; }
fail() {
    echo "FAIL $1"
    failed=1
}

# Waits up to $1 seconds for the command after it to succeed.
until_ok() {
    local secs=$1
    shift
    for _ in $(seq "$secs"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    return 1
}

# True when the `oarn status --json` on standard input shows every worker running.
all_running() {
    python3 -c '
import json, sys
s = json.load(sys.stdin)
states = [w["state"] for w in s["workers"]]
sys.exit(0 if states and all(v == "running" for v in states) else 1)'
}

# Every worker running, as `oarn status` run by the service's user reports.
workers_running() { as_oarn status --json | all_running; }

# Ends a script that boots no system: its verdict and status.
verdict() {
    if [ "$failed" != 0 ]; then
        echo "$0: some checks failed"
        exit 1
    fi
    echo "$0: all checks passed"
}

# Ends the script: the journal when a check failed, and its status.
finish() {
    if [ "$failed" != 0 ]; then
        echo "== the journal of oarn.service"
        inside journalctl -u oarn --no-pager | tail -40
        exit 1
    fi
    echo "$0: all checks passed"
}

# Prints the path of Docker's default seccomp profile (which refuses unshare without
# CAP_SYS_ADMIN), fetched once from Debian's package of Docker's sources (docker.io builds
# the same file in).
docker_default_profile() {
    local profile=$work/docker-default.json
    if [ ! -f "$profile" ]; then
        (cd "$work" && apt-get download -qq golang-github-docker-docker-dev 2>/dev/null)
        dpkg-deb --fsys-tarfile "$work"/golang-github-docker-docker-dev_*.deb \
            | tar -xO ./usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json \
            > "$profile.part"
        mv "$profile.part" "$profile"
    fi
    echo "$profile"
}
