"""Peer of fray's thread-pool context: concurrent.futures.ThreadPoolExecutor(2),
which is what Python Fray's thread context does.

    threadpool_peer.py roundtrip|throughput N WARMUP [REPS]

Prints one JSON object on stdout. roundtrip: {"reps_ns": [[...], ...]}, REPS
(default 5) repetitions of N / REPS timed submit(f).result(), each on a
fresh pool after WARMUP untimed ones. throughput: {"ops": N, "elapsed_ns":
T}, N submits, then every result.
"""

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def noop():
    return None


def roundtrip(n, warmup, reps):
    clock = time.perf_counter_ns
    result = []
    for _ in range(reps):
        with ThreadPoolExecutor(2) as pool:
            for _ in range(warmup):
                pool.submit(noop).result()
            samples = []
            for _ in range(max(1, n // reps)):
                start = clock()
                pool.submit(noop).result()
                samples.append(clock() - start)
        result.append(samples)
    return {"reps_ns": result}


def throughput(n, warmup, _reps):
    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(noop) for _ in range(warmup)]:
            future.result()
        start = time.perf_counter_ns()
        futures = [pool.submit(noop) for _ in range(n)]
        for future in futures:
            future.result()
        return {"ops": n, "elapsed_ns": time.perf_counter_ns() - start}


def main():
    mode, n, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    measure = {"roundtrip": roundtrip, "throughput": throughput}[mode]
    json.dump(measure(n, warmup, reps), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
