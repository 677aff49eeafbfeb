"""Build a container image without a registry: a one-layer OCI image-layout tar
made from a root filesystem directory (e.g. the `busybox_rootfs` fixture).

    from callers.oci_image import build_image
    name = build_image(busybox_rootfs, tmp / "busybox.tar",
                       "docker.io/library/ocirt-busybox:latest", cmd=["sh"])
    # containerd:  ctr -n NS image import tmp/busybox.tar    -> image `name`
    # podman:      podman load -i tmp/busybox.tar            -> image `name`

The tar holds `oci-layout`, `index.json` and `blobs/sha256/...` (an
uncompressed layer, the image config and the manifest). The manifest entry in
index.json carries both `io.containerd.image.name` (read by `ctr image import`)
and `org.opencontainers.image.ref.name` (read by `podman load`), each set to the
full reference `name`, so both tools tag the image with exactly `name`.

The layer is reproducible: entries are sorted, owned by 0:0 unless the rootfs
says otherwise, and have mtime 0, so building twice gives the same digests.
"""
import hashlib
import io
import json
import os
import platform
import tarfile

LAYOUT_VERSION = "1.0.0"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
DEFAULT_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
# platform.machine() -> the GOARCH names images use.
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
           "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def goarch():
    machine = platform.machine()
    return _GOARCH.get(machine, machine)


def layer_tar(rootfs_dir):
    """The rootfs as an uncompressed tar (bytes), paths relative to the rootfs."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for top, dirs, files in os.walk(rootfs_dir):
            dirs.sort()
            # os.walk lists symlinks to directories under dirs: add them as links, do not descend.
            for name in sorted(dirs + files):
                path = os.path.join(top, name)
                info = tar.gettarinfo(path, arcname=os.path.relpath(path, rootfs_dir))
                info.mtime = 0
                info.uname = info.gname = ""
                if info.isfile():
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    return buf.getvalue()


def _blob(tar, data):
    """Add `data` as blobs/sha256/<digest>; return its descriptor fields."""
    digest = hashlib.sha256(data).hexdigest()
    _add_bytes(tar, f"blobs/sha256/{digest}", data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _add_bytes(tar, arcname, data):
    info = tarfile.TarInfo(arcname)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar, arcname):
    info = tarfile.TarInfo(arcname)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def build_image(rootfs_dir, tar_path, name, cmd=("sh",), env=None, workdir="/", entrypoint=None):
    """Write an OCI image-layout tar of `rootfs_dir` to `tar_path`; return `name`.

    `name` is the full reference the loaders tag the image with, e.g.
    "docker.io/library/ocirt-busybox:latest". `cmd`, `entrypoint`, `env`
    and `workdir` go into the image config (what `ctr run IMG` or
    `podman run IMG` runs when no command is given).
    """
    layer = layer_tar(rootfs_dir)
    config = {
        "architecture": goarch(),
        "os": "linux",
        "config": {"Env": list(env or DEFAULT_ENV), "Cmd": list(cmd), "WorkingDir": workdir},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
    }
    if entrypoint:
        config["config"]["Entrypoint"] = list(entrypoint)
    with tarfile.open(str(tar_path), "w", format=tarfile.PAX_FORMAT) as tar:
        _add_dir(tar, "blobs")
        _add_dir(tar, "blobs/sha256")
        layer_desc = {"mediaType": MEDIA_LAYER, **_blob(tar, layer)}
        config_desc = {"mediaType": MEDIA_CONFIG, **_blob(tar, _json(config))}
        manifest = {"schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
                    "config": config_desc, "layers": [layer_desc]}
        manifest_desc = {"mediaType": MEDIA_MANIFEST, **_blob(tar, _json(manifest)),
                         "annotations": {"io.containerd.image.name": name,
                                         "org.opencontainers.image.ref.name": name}}
        _add_bytes(tar, "oci-layout", _json({"imageLayoutVersion": LAYOUT_VERSION}))
        _add_bytes(tar, "index.json", _json({"schemaVersion": 2, "manifests": [manifest_desc]}))
    return name


def _json(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
