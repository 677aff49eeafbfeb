"""ocirt.linux.idmap: which mounts ask for idmapping, and the checks of their
mappings made before anything is built (spec.validate_config runs them)."""
import copy

import pytest

from ocirt import spec
from ocirt.errors import OcirtError
from ocirt.linux.idmap import MAX_EXTENTS, check_extents, check_mounts, map_text, wanted


def ids(*triples):
    return [{"containerID": c, "hostID": h, "size": n} for c, h, n in triples]


@pytest.mark.parametrize("mount, expected", [
    ({"destination": "/d", "type": "bind", "source": "/s"}, False),
    ({"destination": "/d", "source": "/s", "options": ["rbind", "idmap"]}, True),
    ({"destination": "/d", "source": "/s", "options": ["bind", "ridmap"]}, True),
    ({"destination": "/d", "source": "/s", "options": ["bind"], "uidMappings": ids((0, 1, 1)),
      "gidMappings": ids((0, 1, 1))}, True),
    ({"destination": "/d", "source": "/s", "options": ["bind"], "uidMappings": [], "gidMappings": []}, False),
])
def test_wanted(mount, expected):
    assert wanted(mount) is expected


def test_map_text_is_the_uid_map_format():
    assert map_text(ids((0, 100000, 65536), (70000, 5, 1))) == "0 100000 65536\n70000 5 1\n"
    assert map_text([]) == ""


@pytest.mark.parametrize("extents", [
    ids((0, 1000, 1)),
    ids((0, 100000, 65536), (65536, 0, 1)),
    ids((4294967294, 0, 1)),          # the last id there is
    ids((0, 4294967294, 1)),
    ids(*((i, 1000 + i, 1) for i in range(MAX_EXTENTS))),
])
def test_good_extents(extents):
    check_extents(extents, "mounts[0].uidMappings")


@pytest.mark.parametrize("extents, path, words", [
    (ids((0, 1000, 0)), "[0].size", "size 0 maps nothing"),
    (ids((4294967295, 0, 1)), "[0]", "containerID 4294967295 + size 1 goes past the last id, 4294967294"),
    (ids((0, 4294967000, 1000)), "[0]", "hostID 4294967000 + size 1000"),
    (ids((0, 1000, 10), (9, 2000, 1)), "[1]", "its containerID range overlaps that of mounts[0].uidMappings[0]"),
    (ids((0, 1000, 10), (20, 995, 6)), "[1]", "its hostID range overlaps"),
    (ids((10, 1000, 5), (0, 0, 11)), "[1]", "its containerID range overlaps"),
    (ids(*((i, 1000 + i, 1) for i in range(MAX_EXTENTS + 1))), "", "341 mappings: the kernel takes at most 340"),
])
def test_bad_extents(extents, path, words):
    with pytest.raises(OcirtError) as info:
        check_extents(extents, "mounts[0].uidMappings")
    assert str(info.value).startswith(f"config.json: mounts[0].uidMappings{path}: {words}"), str(info.value)


BASE = {
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
               {"destination": "/data", "type": "bind", "source": "/srv", "options": ["idmap"]}],
    "linux": {"namespaces": [{"type": "mount"}, {"type": "user"}],
              "uidMappings": ids((0, 100000, 65536)), "gidMappings": ids((0, 100000, 65536))},
}


def config_with(**mount):
    config = copy.deepcopy(BASE)
    config["mounts"][1].update(mount)
    return config


@pytest.mark.parametrize("config", [
    BASE,                                                                    # the container's mappings
    config_with(options=["rbind", "ridmap"]),
    config_with(type="none", options=["bind", "idmap"]),                    # bind by option
    config_with(options=["bind"], uidMappings=ids((0, 1, 1)), gidMappings=ids((0, 2, 1))),
])
def test_good_mounts(config):
    check_mounts(config)


def no_user_namespace(config):
    config["linux"] = {"namespaces": [{"type": "mount"}]}
    return config


@pytest.mark.parametrize("config, message", [
    (no_user_namespace(config_with()),
     "mounts[1].options: idmap without uidMappings and gidMappings takes the mappings of the container's user "
     'namespace, and the container has none: add the mappings or a {"type": "user"} namespace'),
    (config_with(type="tmpfs", source="tmpfs"),
     'mounts[1]: idmapped mounts are bind mounts only: add "bind" or "rbind" to its options'),
    (config_with(uidMappings=ids((0, 1, 1)), gidMappings=[]),
     "mounts[1].gidMappings: an idmapped mount needs both uidMappings and gidMappings"),
    (config_with(uidMappings=ids((0, 1, 1), (0, 5, 1)), gidMappings=ids((0, 1, 1))),
     "mounts[1].uidMappings[1]: its containerID range overlaps that of mounts[1].uidMappings[0]"),
])
def test_bad_mounts(config, message):
    with pytest.raises(OcirtError) as info:
        check_mounts(config)
    assert str(info.value) == f"config.json: {message}"


def test_validate_config_runs_the_checks():
    config = {"ociVersion": "1.3.0", "root": {"path": "rootfs"},
              "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
              **no_user_namespace(config_with())}
    with pytest.raises(OcirtError, match=r"^config.json: mounts\[1\].options: idmap without"):
        spec.validate_config(config)
