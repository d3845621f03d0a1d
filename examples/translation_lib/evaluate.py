"""Perplexity on a tokenized set and BLEU on decoded text (sacrebleu)."""

import math

import tensorflow as tf

from .losses import sum_nll_and_count


def perplexity(model, dataset, jit_compile=False):
    """exp(mean NLL per target token) over ``dataset`` of ((src, tgt_in), tgt_out)."""

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def batch_terms(inputs, targets):
        return sum_nll_and_count(targets, model(inputs, training=False))

    total, count = 0.0, 0.0
    for inputs, targets in dataset:
        nll, n = batch_terms(inputs, targets)
        total += float(nll)
        count += float(n)
    if not count or not math.isfinite(total):
        return float("nan")
    mean = total / count
    return math.exp(mean) if mean < 700 else float("inf")


def bleu(hypotheses, references):
    """Corpus BLEU (sacrebleu defaults: 13a tokenization, exp smoothing)."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score)
