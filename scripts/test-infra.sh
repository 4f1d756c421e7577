#!/usr/bin/env bash
# Brings up the real local services the tests and the demo talk to. Idempotent.
#   docker: the Docker engine and the guest test image
#   all:    docker, plus a registry on 127.0.0.1 holding the test image, and Chromium
# Installs Debian packages when missing (needs root, as on CI and the dev machines).
set -euo pipefail
what=${1:-all}
REGISTRY_ADDR=${MESHLET_TEST_REGISTRY:-127.0.0.1:5055}
IMAGE=commune-test/busybox:1
state=${XDG_RUNTIME_DIR:-/tmp}/commune-meshlet-infra
mkdir -p "$state"

need_pkgs=()
command -v file >/dev/null || need_pkgs+=(file)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v dockerd >/dev/null || need_pkgs+=(docker.io)
[ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q 'statically' || need_pkgs+=(busybox-static)
# A real home router for core/portmap's tests, run in network namespaces by the tests themselves.
# Only the binary package: `miniupnpd` would add a system service that starts on install.
command -v ip >/dev/null || need_pkgs+=(iproute2)
command -v nft >/dev/null || need_pkgs+=(nftables)
[ -x /usr/sbin/miniupnpd ] || need_pkgs+=(miniupnpd-nftables)
if [ "$what" = all ]; then
  command -v docker-registry >/dev/null || need_pkgs+=(docker-registry)
  command -v chromium >/dev/null || need_pkgs+=(chromium)
fi

if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "infra: installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "infra: starting dockerd"
  nohup dockerd >"$state/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "infra: dockerd did not start:"; tail -20 "$state/dockerd.log"; exit 1; }
fi

# The guest test image: a static busybox rootfs (there is no public registry to pull from).
if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "infra: building $IMAGE"
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/etc" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
  echo 'nobody:x:65534:65534:nobody:/:/bin/false' >> "$rootfs/etc/passwd"
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/bin' \
    --change 'CMD ["/bin/sh", "-c", "echo hello from a commune meshlet; sleep 3600"]' \
    - "$IMAGE" >/dev/null
  rm -rf "$rootfs"
fi

[ "$what" = all ] || exit 0

# A real registry on loopback, for pull tests.
if ! curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; then
  echo "infra: starting docker-registry on $REGISTRY_ADDR"
  mkdir -p "$state/registry"
  cat >"$state/registry.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $state/registry
http:
  addr: $REGISTRY_ADDR
YML
  nohup docker-registry serve "$state/registry.yml" >"$state/registry.log" 2>&1 &
  for _ in $(seq 1 40); do curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1 && break; sleep 0.25; done
  curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null || { echo "infra: registry did not start:"; tail -20 "$state/registry.log"; exit 1; }
fi
docker tag "$IMAGE" "$REGISTRY_ADDR/commune/busybox:1"
docker push -q "$REGISTRY_ADDR/commune/busybox:1" >/dev/null
echo "infra: ready (docker, $IMAGE, registry $REGISTRY_ADDR, chromium)"
