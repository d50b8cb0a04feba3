"""Peer of fray's Python workers that joblib users have: joblib's loky
reusable executor with 2 worker processes (joblib.externals.loky).

    loky_peer.py roundtrip|throughput N WARMUP [REPS]

Prints one JSON object on stdout. roundtrip: {"reps_ns": [[...], ...]}, REPS
(default 5) repetitions of N / REPS timed submit(f).result(), each on a
fresh executor (its workers restarted) after WARMUP untimed ones.
throughput: {"ops": N, "elapsed_ns": T}, N submits, then every result.
Worker start-up is not timed.
"""

import json
import sys
import time

from joblib.externals.loky import get_reusable_executor


def noop():
    return None


def fresh_executor():
    return get_reusable_executor(max_workers=2, kill_workers=True, reuse=False)


def roundtrip(n, warmup, reps):
    clock = time.perf_counter_ns
    result = []
    for _ in range(reps):
        executor = fresh_executor()
        for _ in range(warmup):
            executor.submit(noop).result()
        samples = []
        for _ in range(max(1, n // reps)):
            start = clock()
            executor.submit(noop).result()
            samples.append(clock() - start)
        result.append(samples)
    return {"reps_ns": result}


def throughput(n, warmup, _reps):
    executor = fresh_executor()
    for future in [executor.submit(noop) for _ in range(warmup)]:
        future.result()
    start = time.perf_counter_ns()
    futures = [executor.submit(noop) for _ in range(n)]
    for future in futures:
        future.result()
    return {"ops": n, "elapsed_ns": time.perf_counter_ns() - start}


def main():
    mode, n, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    measure = {"roundtrip": roundtrip, "throughput": throughput}[mode]
    result = measure(n, warmup, reps)
    get_reusable_executor().shutdown(wait=True)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
