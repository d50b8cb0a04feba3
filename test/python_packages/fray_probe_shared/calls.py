"""Functions and classes for fray's Python worker tests (the same in every
version of fray_probe, except what version() answers)."""

import os
import signal
import sys
import time

from fray_probe import __version__


def version():
    return __version__


def add(a, b):
    return a + b


def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


def identity(value):
    return value


def length(value):
    return len(value)


def make_string(n, char="x"):
    return char * n


def fail(message):
    raise ValueError(message)


def segfault():
    import ctypes
    ctypes.string_at(0)


def exit_now(code):
    os._exit(code)


def kill_self():
    # What the kernel's OOM killer does.
    os.kill(os.getpid(), signal.SIGKILL)


def sleep(seconds):
    time.sleep(seconds)
    return seconds


def sleep_with_detached_child(seconds, pid_file):
    """Starts `sleep` in a session of its own (out of the worker's process
    group), writes its pid to `pid_file`, then sleeps."""
    import subprocess
    child = subprocess.Popen(["sleep", str(seconds)], start_new_session=True)
    with open(pid_file + ".part", "w") as f:
        f.write(str(child.pid))
    os.rename(pid_file + ".part", pid_file)
    time.sleep(seconds)
    return child.pid


def sleep_noting_interrupt(seconds, marker):
    try:
        time.sleep(seconds)
    except KeyboardInterrupt:
        with open(marker, "w") as f:
            f.write("KeyboardInterrupt")
        raise
    return seconds


def sleep_ignoring_interrupts(seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            time.sleep(0.01)
        except KeyboardInterrupt:
            pass
    return seconds


def shout(text):
    print(text)
    print("err:" + text, file=sys.stderr)
    return len(text)


def flood(lines):
    """Prints `lines` short lines to stdout as fast as it can, and answers
    how many it printed."""
    write = sys.stdout.write
    for i in range(lines):
        write("flood %d\n" % i)
    sys.stdout.flush()
    return lines


def pid():
    return os.getpid()


def open_fds():
    """This process's open descriptors: {number: what /proc says it is}."""
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[name] = os.readlink("/proc/self/fd/" + name)
        except OSError:
            pass  # the listing's own descriptor, closed by now
    return fds


def sys_path():
    import sys
    return sys.path


def env(name):
    return os.environ.get(name)


def crash_once(marker):
    """Crashes the first time (leaving `marker`), answers after."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(9)
    return "second try"


def crash_n_times(directory, n):
    """Crashes the first `n` times it is called (leaving one file in
    `directory` each time), then answers how many times it crashed."""
    crashed = len(os.listdir(directory))
    if crashed < n:
        open(os.path.join(directory, str(crashed)), "w").close()
        os._exit(9)
    return crashed


def fail_long(n, char="x"):
    """Raises a ValueError whose message is `char` `n` times."""
    raise ValueError(char * n)


def not_json():
    return object()


class Counter:
    def __init__(self, start=0, step=1):
        self.value = start
        self.step = step
        self.seen = []

    def add(self, n=None):
        self.value += self.step if n is None else n
        return self.value

    def get(self):
        return self.value

    def record(self, item):
        self.seen.append(item)
        return len(self.seen)

    def history(self):
        return self.seen

    def crash(self):
        os._exit(3)

    def crash_once(self, marker):
        return crash_once(marker)

    def crash_n_times(self, directory, n):
        return crash_n_times(directory, n)

    def pid(self):
        return os.getpid()


class Broken:
    def __init__(self):
        raise RuntimeError("this actor cannot be built")


# For pyworker_attribution_tests.cpp: what really ran, recorded in files.

def _append_line(path, line):
    # One write with O_APPEND: a short line lands whole, even when several
    # processes append to the same file.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def mark(path, tag):
    """Appends "tag pid" to `path`, and answers `tag`."""
    _append_line(path, "%s %d\n" % (tag, os.getpid()))
    return tag


def mark_then_crash(path, tag, code=7):
    """Marks, then ends the process at once."""
    mark(path, tag)
    os._exit(code)


def mark_then_sleep(path, tag, seconds):
    """Marks, then sleeps, and answers `seconds`."""
    mark(path, tag)
    time.sleep(seconds)
    return seconds


def sleep_then_pid(seconds):
    time.sleep(seconds)
    return os.getpid()


def stress_step(path, call_id, seconds, crash):
    """Appends "call_id" to `path` as it starts, then sleeps `seconds` (if
    any), crashes the process if `crash`, and answers `call_id`."""
    _append_line(path, "%d\n" % call_id)
    if crash:
        os._exit(5)
    if seconds:
        time.sleep(seconds)
    return call_id


class Recorder:
    """An actor that marks each run of its constructor in `constructions`
    ("init pid"), and whose methods mark what ran."""

    def __init__(self, constructions, start=0):
        mark(constructions, "init")
        self.value = start

    def record(self, path, tag):
        return mark(path, tag)

    def record_then_crash(self, path, tag):
        mark_then_crash(path, tag, 3)

    def record_then_sleep(self, path, tag, seconds):
        return mark_then_sleep(path, tag, seconds)

    def crash(self):
        os._exit(3)

    def crash_once(self, marker):
        return crash_once(marker)

    def sleep(self, seconds):
        time.sleep(seconds)
        return seconds

    def add(self, n):
        self.value += n
        return self.value

    def get(self):
        return self.value

    def pid(self):
        return os.getpid()


class CrashingConstructor:
    """An actor whose constructor marks its run in `constructions`, then
    ends the process: it can never be built."""

    def __init__(self, constructions):
        mark(constructions, "init")
        os._exit(4)

    def get(self):
        return 0


# For pyworker_json_tests.cpp: results at and past fray's JSON limits.

def nested(depth, key=None):
    """Lists (dicts {key: ...} if `key` is given) nested `depth` deep, built
    without recursion: nested(1) is [], nested(2) is [[]]."""
    value = {} if key is not None else []
    for _ in range(depth - 1):
        value = {key: value} if key is not None else [value]
    return value


def self_containing():
    """A list that contains itself (no JSON has that shape)."""
    value = []
    value.append(value)
    return value
