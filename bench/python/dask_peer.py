"""Peer of fray's Python workers that Dask users have: a distributed.Client
on LocalCluster(n_workers=2, threads_per_worker=1, processes=True), tasks
submitted with pure=False (each one runs; nothing is deduplicated).

    dask_peer.py roundtrip|throughput N WARMUP [REPS]
    dask_peer.py both N WARMUP REPS N_THROUGHPUT WARMUP_THROUGHPUT

Prints one JSON object on stdout. roundtrip: {"reps_ns": [[...], ...]}, REPS
(default 5) repetitions of N / REPS timed submit(f).result(), all on one
cluster (starting one takes seconds), after WARMUP untimed ones.
throughput: {"ops": N, "elapsed_ns": T}, N submits, then one gather.
both: {"roundtrip": ..., "throughput": ...} from one cluster, so that a run
starts only one. Cluster start-up and shut-down are not timed. Dask's logs
go to stderr.
"""

import json
import logging
import sys
import time

from distributed import Client, LocalCluster


def noop():
    return None


def roundtrip(client, n, warmup, reps):
    for _ in range(warmup):
        client.submit(noop, pure=False).result()
    clock = time.perf_counter_ns
    result = []
    for _ in range(reps):
        samples = []
        for _ in range(max(1, n // reps)):
            start = clock()
            client.submit(noop, pure=False).result()
            samples.append(clock() - start)
        result.append(samples)
    return {"reps_ns": result}


def throughput(client, n, warmup, _reps):
    client.gather([client.submit(noop, pure=False) for _ in range(warmup)])
    start = time.perf_counter_ns()
    client.gather([client.submit(noop, pure=False) for _ in range(n)])
    return {"ops": n, "elapsed_ns": time.perf_counter_ns() - start}


def both(client, n, warmup, reps):
    n_throughput, warmup_throughput = int(sys.argv[5]), int(sys.argv[6])
    return {"roundtrip": roundtrip(client, n, warmup, reps),
            "throughput": throughput(client, n_throughput, warmup_throughput, reps)}


def main():
    mode, n, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    measure = {"roundtrip": roundtrip, "throughput": throughput, "both": both}[mode]
    logging.getLogger("distributed").setLevel(logging.ERROR)
    # No dashboard: it needs bokeh, and it is not what is measured.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            result = measure(client, n, warmup, reps)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
