"""Fixtures shared by the caller tests (containerd, CRI, podman).

`busybox_image`: the busybox tree of tests/conftest.py `busybox_rootfs`,
packed once per session as an OCI image-layout tar (see callers/oci_image.py)
that `ctr image import` and `podman load` both take. Its default command is
`sh`. Nothing is pulled from a registry.
"""
from types import SimpleNamespace

import pytest

from callers.oci_image import build_image

BUSYBOX_IMAGE = "docker.io/library/ocirt-busybox:latest"


@pytest.fixture(scope="session")
def busybox_image(busybox_rootfs, tmp_path_factory):
    """SimpleNamespace(tar=<path of the OCI archive>, name=BUSYBOX_IMAGE)."""
    tar = tmp_path_factory.mktemp("images") / "ocirt-busybox.oci.tar"
    build_image(busybox_rootfs, tar, BUSYBOX_IMAGE, cmd=["sh"])
    return SimpleNamespace(tar=str(tar), name=BUSYBOX_IMAGE)
