"""Peer of fray's env.run({"true"}): Python's subprocess.run(["true"]), from
a small Python process (py_subprocess) or from one holding 4 GiB it has
touched (py_subprocess_big, beside process_spawn_big_driver).

    subprocess_peer.py small|big N WARMUP

Prints one JSON object on stdout: {"samples_ns": [...]}, one
subprocess.run(["true"]) each, timed until the child is reaped.
"""

import json
import mmap
import subprocess
import sys
import time

BIG_BYTES = 4 << 30


def held_memory(mode):
    """What the process holds while it measures: nothing, or 4 GiB with every
    page written, so the page tables a fork would copy exist."""
    if mode == "small":
        return None
    held = bytearray(BIG_BYTES)
    for i in range(0, len(held), mmap.PAGESIZE):
        held[i] = 1
    return held


def run_true():
    subprocess.run(["true"], check=True)


def main():
    mode, n, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if mode not in ("small", "big"):
        sys.exit(f"subprocess_peer.py: unknown mode {mode!r} (small or big)")
    held = held_memory(mode)
    for _ in range(warmup):
        run_true()
    clock = time.perf_counter_ns
    samples = []
    for _ in range(n):
        start = clock()
        run_true()
        samples.append(clock() - start)
    del held
    json.dump({"samples_ns": samples}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
