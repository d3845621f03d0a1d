"""Why the batched evaluator loses on CIFAR-10 convnets on a CPU: a convolution's cost in each shape of program.

The batched evaluator trains every copy (a rule and a learning rate) in one ``jit(vmap(scan))`` program
(``keras_nos/tasks/batched/program.py``). This benchmark trains the two 3x3 convolutions of the CIFAR-10
proxies' network (``tasks/models.conv_block_net`` without its batch norm and head) with plain SGD, each
step on a batch gathered from the data by index as the program does, in five shapes of program:

- ``one copy, step loop``: one copy, one jitted step per call from Python (the rule-by-rule evaluator's shape);
- ``vmap, step loop``: all copies in one vmapped step per call;
- ``vmap, scan``: all copies, every step in one ``lax.scan`` (the batched evaluator's shape);
- ``vmap, scan unrolled``: the same scan with its steps unrolled, so no loop is left in the program;
- ``vmap, scan, conv as slices``: the scan, with each convolution written as nine shifted slices and one
  matmul, so that ``vmap`` batches a matmul rather than making a grouped convolution.

It prints CPU-seconds per copy and step of each, its ratio to ``one copy, step loop`` (above 1: slower) and
the largest difference of its final weights from that reference (all five train the same copies alike).

    python benchmarks/conv_in_scan.py                      # 40 copies, batch 50, 16x16x3 images, 16 filters
    python benchmarks/conv_in_scan.py --json benchmarks/results/conv_in_scan.json --doc   # and the results page
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page, beside this file
import results_page  # noqa: E402

PAGE = results_page.RESULTS / "evaluator-throughput.md"
DIMENSIONS = ("NHWC", "HWIO", "NHWC")
REFERENCE = "one copy, step loop"


def conv_native(x, kernel):
    """XLA's convolution, as Keras' Conv2D runs it on JAX ("same" padding, stride 1)."""
    return lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=DIMENSIONS)


def conv_as_slices(x, kernel):
    """The same convolution as nine shifted slices of the padded input and one matmul."""
    height, width, _, filters = kernel.shape
    padded = jnp.pad(x, ((0, 0), (height // 2, height // 2), (width // 2, width // 2), (0, 0)))
    rows, cols = x.shape[1], x.shape[2]
    patches = jnp.concatenate([padded[:, i:i + rows, j:j + cols, :] for i in range(height) for j in range(width)],
                              axis=-1)
    return jnp.einsum("bhwp,po->bhwo", patches, kernel.reshape(-1, filters))


def make_step(conv, x_all, batch_size, learning_rate=0.01):
    """``step(kernels, start) -> kernels``: one SGD step on the batch of ``x_all`` that begins at ``start``."""

    def loss(kernels, x):
        hidden = jax.nn.relu(conv(x, kernels[0]))
        hidden = jax.nn.relu(conv(hidden, kernels[1]))
        return jnp.mean(hidden ** 2)

    def step(kernels, start):
        x = lax.dynamic_slice_in_dim(x_all, start, batch_size)
        gradients = jax.grad(loss)(kernels, x)
        return [k - learning_rate * g for k, g in zip(kernels, gradients)]
    return step


def variants(x_all, batch_size, steps):
    """{name: run(kernels of all copies) -> final kernels} of the five program shapes."""
    starts = (jnp.arange(steps) * batch_size) % (x_all.shape[0] - batch_size)
    native, slices = make_step(conv_native, x_all, batch_size), make_step(conv_as_slices, x_all, batch_size)

    def step_loop(step):
        def run(kernels):
            for start in starts:
                kernels = step(kernels, start)
            return kernels
        return run

    def scanned(step, unroll=1):
        return jax.jit(jax.vmap(lambda k: lax.scan(lambda c, s: (step(c, s), None), k, starts, unroll=unroll)[0]))

    def one_by_one(kernels):
        run = step_loop(jax.jit(native))
        finals = [run([k[copy] for k in kernels]) for copy in range(kernels[0].shape[0])]
        return [jnp.stack(layer) for layer in zip(*finals)]  # back to (copies, ...) per layer

    return {
        REFERENCE: one_by_one,
        "vmap, step loop": step_loop(jax.jit(jax.vmap(native, in_axes=(0, None)))),
        "vmap, scan": scanned(native),
        "vmap, scan unrolled": scanned(native, unroll=steps),
        "vmap, scan, conv as slices": scanned(slices),
    }


def measure(copies, batch_size, size, filters, steps, repeats=3, seed=0):
    """Rows of (variant, CPU-s per copy-step: mean and standard error over ``repeats`` timed runs, its ratio
    to the reference, max |delta| of the final weights)."""
    rng = np.random.default_rng(seed)
    x_all = jnp.asarray(rng.standard_normal((batch_size * 4, size, size, 3)), jnp.float32)
    kernels = [jnp.asarray(rng.standard_normal((copies, 3, 3, 3, filters)) * 0.2, jnp.float32),
               jnp.asarray(rng.standard_normal((copies, 3, 3, filters, filters)) * 0.1, jnp.float32)]
    rows, reference = [], None
    for name, run in variants(x_all, batch_size, steps).items():
        jax.block_until_ready(run(kernels))  # compiled, not timed
        times = []
        for _ in range(repeats):
            started = time.process_time()
            final = jax.block_until_ready(run(kernels))
            times.append((time.process_time() - started) / (copies * steps))
        per_copy_step = float(np.mean(times))
        reference = reference or (per_copy_step, final)
        delta = max(float(jnp.abs(a - b).max()) for a, b in zip(final, reference[1]))
        rows.append({"variant": name, "cpu_per_copy_step": per_copy_step,
                     "standard_error": float(np.std(times, ddof=1) / np.sqrt(repeats)) if repeats > 1 else None,
                     "ratio": per_copy_step / reference[0], "max_delta": delta})
    return rows


def to_markdown(result):
    s = result["settings"]
    lines = [f"{s['copies']} copies, batch {s['batch']}, {s['size']}x{s['size']}x3 images, two 3x3 convolutions of "
             f"{s['filters']} filters, {s['steps']} SGD steps; CPU time: mean ± standard error of {s['repeats']} "
             f"timed runs after a compiling one.", "",
             "| program | CPU-ms per copy and step | vs one copy, step loop | max abs delta of the weights |",
             "|---|---|---|---|"]
    lines += [f"| {r['variant']} | {1e3 * r['cpu_per_copy_step']:.2f} ± {1e3 * (r['standard_error'] or 0):.2f} | {r['ratio']:.2f}x | {r['max_delta']:.1e} |"
              for r in result["rows"]]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=40, help="copies trained side by side (8 rules x 5 rates)")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--size", type=int, default=16, help="image side (the pooled proxies: 16)")
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each program")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--doc", type=Path, nargs="?", const=PAGE, help=f"and into this page's conv-in-scan block "
                        f"(default {PAGE.relative_to(results_page.ROOT)})")
    args = parser.parse_args(argv)
    settings = {"copies": args.copies, "batch": args.batch, "size": args.size, "filters": args.filters,
                "steps": args.steps, "repeats": args.repeats}
    machine = results_page.machine_line(("jax", "jaxlib"))
    rows = measure(args.copies, args.batch, args.size, args.filters, args.steps, args.repeats)
    result = {"settings": settings, "rows": rows, "machine": machine}
    for row in rows:
        print(f"{row['variant']}: {1e3 * row['cpu_per_copy_step']:.2f} CPU-ms per copy-step "
              f"(s.e. {1e3 * (row['standard_error'] or 0):.2f}), "
              f"{row['ratio']:.2f}x the reference, max |delta| {row['max_delta']:.1e}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if args.doc:
        command = results_page.command_line("benchmarks/conv_in_scan.py", sys.argv[1:] if argv is None else argv)
        results_page.write_block(args.doc, "conv-in-scan", results_page.results_block(command, machine,
                                                                                        to_markdown(result)),
                                 "benchmarks/conv_in_scan.py")
    return result


if __name__ == "__main__":
    main()
