"""Peer of fray's Python workers: multiprocessing.Pool(2) with the platform's
default start method.

    mp_pool_peer.py roundtrip|throughput N WARMUP

Prints one JSON object on stdout: {"samples_ns": [...]} (one pool.apply(f)
each) for roundtrip, {"ops": N, "elapsed_ns": T} (N apply_async, then every
get) for throughput. Pool start-up is not timed.
"""

import json
import multiprocessing
import sys
import time


def noop():
    return None


def roundtrip(pool, n, warmup):
    for _ in range(warmup):
        pool.apply(noop)
    clock = time.perf_counter_ns
    samples = []
    for _ in range(n):
        start = clock()
        pool.apply(noop)
        samples.append(clock() - start)
    return {"samples_ns": samples}


def throughput(pool, n, warmup):
    for result in [pool.apply_async(noop) for _ in range(warmup)]:
        result.get()
    start = time.perf_counter_ns()
    results = [pool.apply_async(noop) for _ in range(n)]
    for result in results:
        result.get()
    return {"ops": n, "elapsed_ns": time.perf_counter_ns() - start}


def main():
    mode, n, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    measure = {"roundtrip": roundtrip, "throughput": throughput}[mode]
    with multiprocessing.Pool(2) as pool:
        result = measure(pool, n, warmup)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
