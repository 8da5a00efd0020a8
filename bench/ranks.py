#!/usr/bin/env python3
"""Data-parallel scaling of `mobilenet train` (make bench-ranks).

Measures, side by side in one run and alternating, one process with 2 threads against 2 processes
(mpirun) with 1 thread each, at the same global batch, for SeedNet and MobileNet-CIFAR 1.0: images
per second, step time, the allreduce's seconds and bytes per step. Then predicts the efficiency of
N hosts (one process each, the per-host batch fixed, so the global batch grows with N) from the
measured compute time and a ring allreduce, 2(N-1)/N x bytes / bandwidth + 2(N-1) x latency, with
no overlap of communication and backward (the engine does not overlap them).

Usage: bench/ranks.py [--binary .build/release/mobilenet] [--rounds 3] [--json]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile

MODELS = [
    ("SeedNet", ["--model", "seed", "--normalize", "seed"], 400),
    ("MobileNet-CIFAR 1.0", ["--model", "mobilenet"], 40),
]
# Links of the model: bandwidth in bytes/s and the latency of one message of the ring.
LINKS = [("10 Gbit/s", 10e9 / 8, 25e-6), ("100 Gbit/s", 100e9 / 8, 5e-6)]
HOSTS = [4, 16, 64]


def train(binary, processes, threads, model_args, steps, batch, workdir):
    args = [binary, "train", "--data", "synthetic", "--batch-size", str(batch), "--steps", str(steps),
            "--eval-every", str(10 * steps), "--threads", str(threads), "--json", "--no-augment"] + model_args
    if processes > 1:
        mpirun = shutil.which("mpirun")
        if mpirun is None:
            raise SystemExit("bench-ranks: mpirun is not on PATH (make setup installs Open MPI)")
        args = [mpirun, "--allow-run-as-root", "--oversubscribe", "-np", str(processes)] + args
    out = subprocess.run(args, cwd=workdir, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bench-ranks: {' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=".build/release/mobilenet")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--json", action="store_true")
    a = parser.parse_args()
    binary = os.path.abspath(a.binary)
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        for name, model_args, steps in MODELS:
            single, double = [], []
            for _ in range(a.rounds):
                single.append(train(binary, 1, 2, model_args, steps, a.batch_size, workdir))
                double.append(train(binary, 2, 1, model_args, steps, a.batch_size, workdir))
            one_rate = statistics.median(r["images_per_second"] for r in single)
            two_rate = statistics.median(r["images_per_second"] for r in double)
            allreduce = statistics.median(r["allreduce_seconds_per_step"] for r in double)
            nbytes = double[0]["allreduce_bytes_per_step"]
            step_one = a.batch_size / one_rate
            step_two = a.batch_size / two_rate
            # Compute of one host (2 cores) at the per-host batch: the single process's step.
            predictions = {}
            for link, bandwidth, latency in LINKS:
                for n in HOSTS:
                    ring = 2 * (n - 1) / n * nbytes / bandwidth + 2 * (n - 1) * latency
                    predictions[f"{n} hosts, {link}"] = step_one / (step_one + ring)
            results.append({
                "model": name, "batch_size": a.batch_size,
                "one_process_2_threads_images_per_second": one_rate,
                "two_processes_1_thread_images_per_second": two_rate,
                "ratio": two_rate / one_rate,
                "step_seconds_one_process": step_one, "step_seconds_two_processes": step_two,
                "allreduce_seconds_per_step": allreduce, "allreduce_share_of_step": allreduce / step_two,
                "allreduce_bytes_per_step": nbytes, "predicted_efficiency": predictions,
            })
    if a.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        print(f"{r['model']} at global batch {r['batch_size']}:")
        print(f"  1 process x 2 threads  {r['one_process_2_threads_images_per_second']:8.0f} img/s  "
              f"step {1000 * r['step_seconds_one_process']:.1f} ms")
        print(f"  2 processes x 1 thread {r['two_processes_1_thread_images_per_second']:8.0f} img/s  "
              f"step {1000 * r['step_seconds_two_processes']:.1f} ms  ({r['ratio']:.2f}x)")
        print(f"  allreduce {r['allreduce_bytes_per_step'] / 1e6:.2f} MB per step, "
              f"{1000 * r['allreduce_seconds_per_step']:.2f} ms ({100 * r['allreduce_share_of_step']:.1f}% of the step, "
              "none hidden under backward)")
        print("  predicted efficiency, per-host batch fixed: " + ", ".join(
            f"{k} {100 * v:.0f}%" for k, v in r["predicted_efficiency"].items()))


if __name__ == "__main__":
    main()
