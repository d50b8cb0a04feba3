"""Peer of fray's Python workers: multiprocessing.Pool(2) with the platform's
default start method.

    mp_pool_peer.py roundtrip|throughput N WARMUP [REPS]

Prints one JSON object on stdout. roundtrip: {"reps_ns": [[...], ...]}, REPS
(default 5) repetitions of N / REPS timed pool.apply(f), each on a fresh
pool after WARMUP untimed ones. throughput: {"ops": N, "elapsed_ns": T}, N
apply_async, then every get. Pool start-up is not timed.
"""

import json
import multiprocessing
import sys
import time


def noop():
    return None


def roundtrip(n, warmup, reps):
    clock = time.perf_counter_ns
    result = []
    for _ in range(reps):
        with multiprocessing.Pool(2) as pool:
            for _ in range(warmup):
                pool.apply(noop)
            samples = []
            for _ in range(max(1, n // reps)):
                start = clock()
                pool.apply(noop)
                samples.append(clock() - start)
        result.append(samples)
    return {"reps_ns": result}


def throughput(n, warmup, _reps):
    with multiprocessing.Pool(2) as pool:
        for result in [pool.apply_async(noop) for _ in range(warmup)]:
            result.get()
        start = time.perf_counter_ns()
        results = [pool.apply_async(noop) for _ in range(n)]
        for result in results:
            result.get()
        return {"ops": n, "elapsed_ns": time.perf_counter_ns() - start}


def main():
    mode, n, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    measure = {"roundtrip": roundtrip, "throughput": throughput}[mode]
    json.dump(measure(n, warmup, reps), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
