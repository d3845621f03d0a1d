"""Cross entropy over target tokens, ignoring padding (id 0)."""

from keras import ops


def _token_terms(y_true, logits):
    y_true = ops.cast(y_true, "int32")
    log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    nll = -ops.squeeze(ops.take_along_axis(log_probs, y_true[..., None], axis=-1), axis=-1)
    mask = ops.cast(ops.not_equal(y_true, 0), "float32")
    return log_probs, nll, mask


def _masked_mean(values, mask):
    return ops.sum(values * mask) / ops.maximum(ops.sum(mask), 1.0)


def smoothed_cross_entropy(label_smoothing=0.0):
    """Loss: per-token cross entropy against (1 - eps) one-hot + eps uniform."""

    def loss(y_true, logits):
        log_probs, nll, mask = _token_terms(y_true, logits)
        if label_smoothing:
            uniform = -ops.mean(log_probs, axis=-1)
            nll = (1.0 - label_smoothing) * nll + label_smoothing * uniform
        return _masked_mean(nll, mask)

    loss.__name__ = "smoothed_cross_entropy"
    return loss


def token_nll(y_true, logits):
    """Metric: unsmoothed mean negative log-likelihood per target token."""
    _, nll, mask = _token_terms(y_true, logits)
    return _masked_mean(nll, mask)


def token_accuracy(y_true, logits):
    """Metric: share of target tokens predicted exactly (argmax)."""
    y_true = ops.cast(y_true, "int32")
    hits = ops.cast(ops.equal(ops.cast(ops.argmax(logits, axis=-1), "int32"), y_true), "float32")
    return _masked_mean(hits, ops.cast(ops.not_equal(y_true, 0), "float32"))


def sum_nll_and_count(y_true, logits):
    """(sum of token NLLs, number of tokens) for exact corpus perplexity."""
    _, nll, mask = _token_terms(y_true, logits)
    return ops.sum(nll * mask), ops.sum(mask)
