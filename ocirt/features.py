"""`ocirt features`: what this build of ocirt really supports (runtime-spec features.md)."""


def features():
    from ocirt.capabilities import CAPABILITIES
    from ocirt.linux.mountopts import MOUNT_OPTION_NAMES
    from ocirt.linux.namespaces import NAMESPACES
    from ocirt.linux import seccomp

    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.3.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": list(MOUNT_OPTION_NAMES),
        "linux": {
            "namespaces": sorted(NAMESPACES),
            "capabilities": sorted(CAPABILITIES, key=CAPABILITIES.get),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": False},
            "seccomp": {
                "enabled": True,
                "actions": sorted(seccomp.ACTIONS),
                "operators": sorted(seccomp.OPERATORS),
                "archs": list(seccomp.ARCHITECTURES),
                "knownFlags": sorted(seccomp.FLAGS),
                "supportedFlags": sorted(seccomp.FLAGS),
            },
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": True}},
        },
        "annotations": {"org.opencontainers.runtime.ocirt.version": "0.1.0"},
    }
