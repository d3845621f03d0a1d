"""WordPiece subwords learned from the training text, with tensorflow-text.

The vocabulary is learned with ``bert_vocab_from_dataset`` (BERT's basic
split on whitespace and punctuation, then WordPiece), tokenized with
``tensorflow_text.BertTokenizer`` and turned back into text with
``tensorflow_text.FastWordpieceTokenizer.detokenize`` plus a few rules that
re-attach punctuation, so that BLEU is computed on ordinary sentences.
"""

import re
from pathlib import Path

import tensorflow as tf
import tensorflow_text as tf_text
from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset as bert_vocab

RESERVED_TOKENS = ["[PAD]", "[UNK]", "[START]", "[END]"]
PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3
# Case matters for German nouns, so no lower-casing; the same parameters are
# used to learn the vocabulary and to tokenize.
BERT_TOKENIZER_PARAMS = {"lower_case": False}

_DETOK_RULES = [
    (re.compile(r" ([.,!?;:%)\]}])"), r"\1"),        # no space before closing punctuation
    (re.compile(r"([(\[{$]) "), r"\1"),               # nor after opening punctuation
    (re.compile(r"(\w) ([-/]) (?=\w)"), r"\1\2"),     # hyphenated and slashed compounds
    (re.compile(r"(\w) ' (?=(s|t|re|ll|ve|d|m)\b)"), r"\1'"),  # English clitics
]


def learn_vocab(texts, vocab_size, batch_size=1024):
    """A WordPiece vocabulary (list of str, reserved tokens first) for ``texts``.

    ``texts`` is a list of strings or a ``tf.data.Dataset`` of scalar strings.
    """
    if not isinstance(texts, tf.data.Dataset):
        texts = tf.data.Dataset.from_tensor_slices(tf.constant(list(texts), tf.string))
    dataset = texts.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    # The learner binary-searches a count threshold in [lower, upper]; every
    # probe is a full pass in Python. A low ceiling saves most probes (the
    # default 1e7 costs ~23), a floor of 1 lets rare subwords of a small corpus in.
    small = vocab_size < 4000
    learn_params = {"lower_thresh": 1 if small else 10, "upper_thresh": 1000 if small else 100000}
    return bert_vocab.bert_vocab_from_dataset(
        dataset, vocab_size=vocab_size, reserved_tokens=RESERVED_TOKENS,
        bert_tokenizer_params=BERT_TOKENIZER_PARAMS, learn_params=learn_params)


def save_vocab(vocab, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(token + "\n" for token in vocab), encoding="utf-8")
    return path


def load_vocab(path):
    return Path(path).read_text(encoding="utf-8").splitlines()


def clean_spacing(text):
    """Undo the spaces that word splitting put around punctuation."""
    for pattern, replacement in _DETOK_RULES:
        text = pattern.sub(replacement, text)
    return text


class SubwordTokenizer:
    """Text <-> ids for one language; ids start with [START] and end with [END]."""

    def __init__(self, vocab_path):
        self.vocab_path = str(vocab_path)
        self.vocab = load_vocab(vocab_path)
        if self.vocab[: len(RESERVED_TOKENS)] != RESERVED_TOKENS:
            raise ValueError(f"{vocab_path}: the vocabulary must start with {RESERVED_TOKENS}")
        self._bert = tf_text.BertTokenizer(self.vocab_path, token_out_type=tf.int32,
                                           **BERT_TOKENIZER_PARAMS)
        self._fast = tf_text.FastWordpieceTokenizer(
            self.vocab, token_out_type=tf.int32, support_detokenization=True)

    @property
    def vocab_size(self):
        return len(self.vocab)

    def tokenize(self, texts):
        """Strings [B] -> ragged int32 ids [B, None] framed by [START] ... [END]."""
        ids = self._bert.tokenize(texts).merge_dims(-2, -1)
        batch = ids.bounding_shape()[0]
        start = tf.fill([batch, 1], START_ID)
        end = tf.fill([batch, 1], END_ID)
        return tf.concat([start, ids, end], axis=1)

    def detokenize(self, ids):
        """Rows of ids (anything array-like) -> list of str.

        Each row is read up to its first [END]; [START] and [PAD] are dropped.
        """
        rows = []
        for row in ids:
            kept = []
            for token in (int(t) for t in row):
                if token == END_ID:
                    break
                if token not in (PAD_ID, START_ID):
                    kept.append(token)
            rows.append(kept)
        if not rows:
            return []
        ragged = tf.ragged.constant(rows, dtype=tf.int32, ragged_rank=1) if any(rows) else \
            tf.RaggedTensor.from_row_lengths(tf.zeros([0], tf.int32), [0] * len(rows))
        texts = self._fast.detokenize(ragged).numpy()
        return [clean_spacing(t.decode("utf-8")) for t in texts]
