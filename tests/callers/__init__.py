"""Tests that run ocirt under real callers (containerd, CRI, podman).

A package, so that its conftest.py does not shadow tests/conftest.py: test
modules here import `from conftest import OCIRT` (tests/conftest.py) and
`from callers.containerd_daemon import Containerd`, `from callers.oci_image
import build_image`.
"""
