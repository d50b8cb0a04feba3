"""Peer of fray's thread-pool context: concurrent.futures.ThreadPoolExecutor(2),
which is what Python Fray's thread context does.

    threadpool_peer.py roundtrip|throughput N WARMUP

Prints one JSON object on stdout: {"samples_ns": [...]} (one submit(f).result()
each) for roundtrip, {"ops": N, "elapsed_ns": T} (N submits, then every
result) for throughput.
"""

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def noop():
    return None


def roundtrip(pool, n, warmup):
    for _ in range(warmup):
        pool.submit(noop).result()
    clock = time.perf_counter_ns
    samples = []
    for _ in range(n):
        start = clock()
        pool.submit(noop).result()
        samples.append(clock() - start)
    return {"samples_ns": samples}


def throughput(pool, n, warmup):
    for future in [pool.submit(noop) for _ in range(warmup)]:
        future.result()
    start = time.perf_counter_ns()
    futures = [pool.submit(noop) for _ in range(n)]
    for future in futures:
        future.result()
    return {"ops": n, "elapsed_ns": time.perf_counter_ns() - start}


def main():
    mode, n, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    measure = {"roundtrip": roundtrip, "throughput": throughput}[mode]
    with ThreadPoolExecutor(2) as pool:
        result = measure(pool, n, warmup)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
