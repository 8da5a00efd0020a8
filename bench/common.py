"""What the framework reference scripts share: their options, and timing and reporting a run the way
`mobilenet bench` does (medians after warm-up, peak resident memory), so `compare.py` reads one format."""
import argparse
import os
import resource
import statistics
import time


def arguments(description, warmup):
    """The options every reference script takes; a script may add its own before parsing."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--model", choices=["seed", "mobilenet"], default="mobilenet")
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--standard", action="store_true")
    p.add_argument("--stem", choices=["cifar", "imagenet"], default="cifar")
    p.add_argument("--resolution", type=int, default=0, help="input side (default: 32, or 224 with --stem imagenet)")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--warmup", type=int, default=warmup)
    return p


def side(args):
    """The input's side in pixels: --resolution, else the stem's default."""
    return args.resolution or (224 if args.stem == "imagenet" else 32)


def median_seconds(fn, args):
    """Median wall seconds of `fn()` over `args.repeats` calls after `args.warmup` untimed ones."""
    for _ in range(args.warmup):
        fn()
    samples = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def result(framework, layout, args, threads, step, infer):
    """One JSON-ready line of results, in the fields `compare.py` reads (`step` None: inference only)."""
    return {"framework": framework, "format": layout, "model": args.model, "alpha": args.alpha,
            "standard": args.standard, "stem": args.stem, "side": side(args), "batch_size": args.batch_size, "threads": threads,
            "train_step_seconds": step, "train_images_per_second": args.batch_size / step if step else None,
            "inference_seconds": infer, "inference_images_per_second": args.batch_size / infer,
            "peak_resident_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
