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
  matmul, so that ``vmap`` batches a matmul rather than making a grouped convolution;

and three on TensorFlow's CPU kernels (oneDNN), which the rule-by-rule evaluator runs on:

- ``TensorFlow, one copy, step loop``: one copy, one ``tf.function`` step per call;
- ``TensorFlow, grouped convolution``: all copies in one step, the first convolution with the copies' kernels
  side by side (they share its input) and the second one grouped by copy;
- ``TensorFlow, shared kernel, copies as batch``: one kernel for all copies, their batches stacked into one.
  It does not train the copies (no weight delta), but it is the same arithmetic in the shape these kernels
  run fastest of those measured: about the least a batched program could spend on it here.

Then ``TensorFlow, whole network, copies side by side``: the proxies' whole network for all copies in one
step, their channels side by side (``tensorflow_whole_network``), with Adam. Last, what the current evaluator
itself costs a copy and step on the whole network (both convolutions with batch norm, pooling and the
softmax layer, a rule's update, tracing and validation): ``keras_nos``' ``Evaluator`` training Adam at its
five learning rates side by side on CIFAR-10-shaped synthetic images. Half of it is what a batched program
would have to reach for twice the current evaluator's throughput (the issue's target on the CIFAR proxy).

It prints CPU-seconds per copy and step of each, its ratio to ``one copy, step loop`` (above 1: slower), the
largest difference of its final weights from that reference (for the rows that train the same copies) and
that target against the fastest convolutions and the whole network side by side.

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
os.environ["KERAS_BACKEND"] = "tensorflow"  # the current evaluator's backend, for its row

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


def tensorflow_variants(x_all, batch_size, steps, copies, learning_rate=0.01):
    """The three TensorFlow shapes, as {name: run(kernels of all copies) -> final kernels}."""
    import tensorflow as tf

    x_all = tf.constant(np.asarray(x_all))
    starts = [int(start) for start in (np.arange(steps) * batch_size) % (x_all.shape[0] - batch_size)]

    def sgd(forward):
        @tf.function(autograph=False)  # plain Python loops over lists: nothing for AutoGraph to convert
        def step(kernels, x):
            with tf.GradientTape() as tape:
                loss = forward(kernels, x)
            for kernel, gradient in zip(kernels, tape.gradient(loss, kernels)):
                kernel.assign_sub(learning_rate * gradient)
        return step

    def one_copy(kernels, x):
        hidden = tf.nn.relu(tf.nn.conv2d(x, kernels[0], 1, "SAME"))
        return tf.reduce_mean(tf.nn.relu(tf.nn.conv2d(hidden, kernels[1], 1, "SAME")) ** 2)

    def grouped(kernels, x):  # channels copy-major: channel c * filters + f is copy c's filter f
        return one_copy(kernels, x) * copies  # the sum of the copies' own losses

    one_copy_step, grouped_step = sgd(one_copy), sgd(grouped)

    def train(step, kernels, batch_of):
        variables = [tf.Variable(k) for k in kernels]
        for start in starts:
            step(variables, batch_of(start))
        return [v.numpy() for v in variables]

    def one_by_one(kernels):
        finals = [train(one_copy_step, [np.asarray(k[copy]) for k in kernels], lambda s: x_all[s:s + batch_size])
                  for copy in range(kernels[0].shape[0])]
        return [np.stack(layer) for layer in zip(*finals)]

    def side_by_side(kernels):
        side = [np.concatenate(list(np.asarray(k)), axis=-1) for k in kernels]  # (3, 3, in, copies * filters)
        final = train(grouped_step, side, lambda s: x_all[s:s + batch_size])
        return [np.stack(np.split(k, copies, axis=-1)) for k in final]

    stacked = {s: tf.tile(x_all[s:s + batch_size], [copies, 1, 1, 1]) for s in set(starts)}

    def shared(kernels):
        train(one_copy_step, [np.asarray(k[0]) for k in kernels], stacked.__getitem__)
        return None

    return {"TensorFlow, one copy, step loop": one_by_one, "TensorFlow, grouped convolution": side_by_side,
            "TensorFlow, shared kernel, copies as batch": shared}


def tensorflow_whole_network(x_all, batch_size, steps, copies, filters, classes=10, learning_rate=1e-3):
    """``run`` of the proxies' whole network for all copies at once, their channels side by side: one
    convolution over the shared input, a grouped one, batch norm per channel (so per copy), pooling, and each
    copy's softmax layer as one batched matmul; Adam on every weight. It trains other weights than the rows
    above (no delta): what a batched TensorFlow program of the whole network might cost."""
    import tensorflow as tf

    rng = np.random.default_rng(1)
    x_all = tf.constant(np.asarray(x_all))
    labels = tf.constant(rng.integers(0, classes, x_all.shape[0]))
    starts = [int(start) for start in (np.arange(steps) * batch_size) % (x_all.shape[0] - batch_size)]
    pooled = (x_all.shape[1] // 2) * (x_all.shape[2] // 2) * filters
    width = copies * filters
    shapes = [(3, 3, 3, width), (width,), (width,), (3, 3, filters, width), (width,), (width,),
              (copies, pooled, classes), (copies, 1, classes)]
    initial = [rng.normal(size=shape).astype(np.float32) * 0.1 for shape in shapes]

    def batch_norm(h, gamma, beta):
        mean, variance = tf.nn.moments(h, axes=[0, 1, 2])
        return tf.nn.batch_normalization(h, mean, variance, beta, gamma, 1e-3)

    def loss(weights, x, y):
        k1, g1, b1, k2, g2, b2, dense, bias = weights
        h = tf.nn.relu(batch_norm(tf.nn.conv2d(x, k1, 1, "SAME"), g1, b1))
        h = tf.nn.relu(batch_norm(tf.nn.conv2d(h, k2, 1, "SAME"), g2, b2))
        h = tf.nn.max_pool2d(h, 2, 2, "VALID")  # (batch, rows, cols, copies * filters)
        rows, cols = h.shape[1], h.shape[2]
        h = tf.reshape(tf.transpose(tf.reshape(h, (-1, rows, cols, copies, filters)), (3, 0, 1, 2, 4)),
                       (copies, -1, pooled))  # each copy's features, flattened as Keras' Flatten does
        logits = tf.matmul(h, dense) + bias
        targets = tf.broadcast_to(y, (copies, tf.shape(y)[0]))
        return tf.reduce_sum(tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits), -1))

    @tf.function(autograph=False)
    def step(weights, moments, x, y, t):
        with tf.GradientTape() as tape:
            value = loss(weights, x, y)
        for w, (m, v), g in zip(weights, moments, tape.gradient(value, weights)):
            m.assign(0.9 * m + 0.1 * g)
            v.assign(0.999 * v + 0.001 * g * g)
            w.assign_sub(learning_rate * (m / (1 - 0.9 ** t)) / (tf.sqrt(v / (1 - 0.999 ** t)) + 1e-7))

    def run(kernels):
        weights = [tf.Variable(w) for w in initial]
        moments = [(tf.Variable(tf.zeros_like(w)), tf.Variable(tf.zeros_like(w))) for w in initial]
        for t, start in enumerate(starts, 1):
            step(weights, moments, x_all[start:start + batch_size], labels[start:start + batch_size],
                 tf.constant(float(t)))  # a tensor: a new Python number would trace the step again
        return None
    return run


CURRENT = "Keras on TensorFlow, whole network, the current evaluator"
WHOLE = "TensorFlow, whole network, copies side by side"


def current_evaluator_row(batch_size, size, filters, steps, repeats, seed=0):
    """The row of the current ``Evaluator``: Adam at the default grid, ``steps`` steps of each learning rate on
    synthetic ``size``x``size``x3 images of 10 classes, nothing pruned or stopped early."""
    import functools

    from keras_nos.tasks import datasets, models
    from keras_nos.tasks.evaluator import Evaluator
    from keras_nos.tasks.lr_search import DEFAULT_LEARNING_RATES
    from keras_nos.tasks.registry import Task

    def cifar10_shaped(data_path, seed, train=steps * batch_size, validation=2000):  # the proxy's 2,000
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, 10, train + validation)
        images = (rng.normal(size=(10, size, size, 3))[labels] + 2 * rng.normal(size=(len(labels), size, size, 3)))
        images = images.astype(np.float32)
        return datasets.Splits(images[:train], labels[:train], images[train:], labels[train:])

    task = Task(name="cifar10-shaped", batch_size=batch_size, epochs=1, load_data=cifar10_shaped,
                build_model=functools.partial(models.conv_block_net, filters=filters))
    evaluator = Evaluator(task, seed=seed, hurdles=None, early_stop=False)
    copy_steps = len(DEFAULT_LEARNING_RATES) * -(-len(evaluator.trainer.x_train) // batch_size)
    times = []
    for _ in range(repeats):
        started = time.process_time()
        result = evaluator.evaluate("adam")
        times.append((time.process_time() - started) / copy_steps)
        assert result.status == "ok", result
    return {"variant": CURRENT, "cpu_per_copy_step": float(np.mean(times)),
            "standard_error": float(np.std(times, ddof=1) / np.sqrt(repeats)) if repeats > 1 else None,
            "max_delta": None}


def measure(copies, batch_size, size, filters, steps, repeats=3, keras_steps=960, seed=0):
    """Rows of (variant, CPU-s per copy-step: mean and standard error over ``repeats`` timed runs, its ratio
    to the reference, max |delta| of the final weights)."""
    rng = np.random.default_rng(seed)
    x_all = jnp.asarray(rng.standard_normal((batch_size * 4, size, size, 3)), jnp.float32)
    kernels = [jnp.asarray(rng.standard_normal((copies, 3, 3, 3, filters)) * 0.2, jnp.float32),
               jnp.asarray(rng.standard_normal((copies, 3, 3, filters, filters)) * 0.1, jnp.float32)]
    rows, reference = [], None
    programs = {**variants(x_all, batch_size, steps), **tensorflow_variants(x_all, batch_size, steps, copies),
                WHOLE: tensorflow_whole_network(x_all, batch_size, steps, copies, filters)}
    for name, run in programs.items():
        jax.block_until_ready(run(kernels))  # compiled, not timed
        times = []
        for _ in range(repeats):
            started = time.process_time()
            final = jax.block_until_ready(run(kernels))
            times.append((time.process_time() - started) / (copies * steps))
        per_copy_step = float(np.mean(times))
        reference = reference or (per_copy_step, [np.asarray(k) for k in final])
        delta = None if final is None else max(float(np.abs(np.asarray(a) - b).max())
                                               for a, b in zip(final, reference[1]))
        rows.append({"variant": name, "cpu_per_copy_step": per_copy_step,
                     "standard_error": float(np.std(times, ddof=1) / np.sqrt(repeats)) if repeats > 1 else None,
                     "ratio": per_copy_step / reference[0], "max_delta": delta})
    current = current_evaluator_row(batch_size, size, filters, keras_steps, repeats, seed)
    rows.append({**current, "ratio": current["cpu_per_copy_step"] / reference[0]})
    return rows


def _delta(row):
    return "-" if row["max_delta"] is None else f"{row['max_delta']:.1e}"


def to_markdown(result):
    s = result["settings"]
    lines = [f"{s['copies']} copies, batch {s['batch']}, {s['size']}x{s['size']}x3 images, two 3x3 convolutions of "
             f"{s['filters']} filters, {s['steps']} SGD steps; CPU time: mean ± standard error of {s['repeats']} "
             f"timed runs after a compiling one.", "",
             "| program | CPU-ms per copy and step | vs one copy, step loop | max abs delta of the weights |",
             "|---|---|---|---|"]
    lines += [f"| {r['variant']} | {1e3 * r['cpu_per_copy_step']:.2f} ± {1e3 * (r['standard_error'] or 0):.2f} | {r['ratio']:.2f}x | {_delta(r)} |"
              for r in result["rows"]]
    lines += ["", f"The last row: Adam at 5 learning rates, {s['keras_steps']} steps each, tracing and validation "
                  f"included. {ceiling(result['rows'])}"]
    return "\n".join(lines)


def ceiling(rows):
    """What twice the current evaluator's throughput asks of a batched program, against the fastest
    convolutions measured."""
    current, whole = (next(r for r in rows if r["variant"] == name) for name in (CURRENT, WHOLE))
    fastest = min((r for r in rows if r["variant"] not in (CURRENT, WHOLE)), key=lambda r: r["cpu_per_copy_step"])
    return (f"Twice the current evaluator's throughput needs the whole network in at most "
            f"{0.5e3 * current['cpu_per_copy_step']:.2f} CPU-ms a copy and step; the two convolutions alone take "
            f"{1e3 * fastest['cpu_per_copy_step']:.2f} in the fastest program above ({fastest['variant']}), and "
            f"the whole network with its copies side by side {1e3 * whole['cpu_per_copy_step']:.2f} "
            f"({current['cpu_per_copy_step'] / whole['cpu_per_copy_step']:.2f}x the current evaluator's throughput).")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=40, help="copies trained side by side (8 rules x 5 rates)")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--size", type=int, default=16, help="image side (the pooled proxies: 16)")
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each program")
    parser.add_argument("--keras-steps", type=int, default=960,
                        help="steps of each learning rate in the current evaluator's row (cifar10-pooled-b50: 960 "
                             "an epoch)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--doc", type=Path, nargs="?", const=PAGE, help=f"and into this page's conv-in-scan block "
                        f"(default {PAGE.relative_to(results_page.ROOT)})")
    args = parser.parse_args(argv)
    settings = {"copies": args.copies, "batch": args.batch, "size": args.size, "filters": args.filters,
                "steps": args.steps, "repeats": args.repeats, "keras_steps": args.keras_steps}
    machine = results_page.machine_line(("jax", "jaxlib"))
    rows = measure(args.copies, args.batch, args.size, args.filters, args.steps, args.repeats, args.keras_steps)
    result = {"settings": settings, "rows": rows, "machine": machine}
    for row in rows:
        print(f"{row['variant']}: {1e3 * row['cpu_per_copy_step']:.2f} CPU-ms per copy-step "
              f"(s.e. {1e3 * (row['standard_error'] or 0):.2f}), "
              f"{row['ratio']:.2f}x the reference, max |delta| {_delta(row)}")
    print(ceiling(rows))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if args.doc:
        command = results_page.command_line("benchmarks/conv_in_scan.py", sys.argv[1:] if argv is None else argv,
                                            environment=())  # it sets KERAS_BACKEND itself
        results_page.write_block(args.doc, "conv-in-scan", results_page.results_block(command, machine,
                                                                                        to_markdown(result)),
                                 "benchmarks/conv_in_scan.py")
    return result


if __name__ == "__main__":
    main()
