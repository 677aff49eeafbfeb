"""The cgroup v2 memory.events counter that `events` watches for OOM kills."""
from ocirt.linux.cgroups.oom import oom_kill_count


def test_oom_kill_counter_is_read():
    text = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n"
    assert oom_kill_count(text) == 2


def test_oom_group_kill_is_not_mistaken_for_oom_kill():
    assert oom_kill_count("oom_group_kill 5\n") == 0


def test_missing_or_malformed_counter_is_zero():
    assert oom_kill_count("") == 0
    assert oom_kill_count("oom_kill\noom 1\n") == 0
