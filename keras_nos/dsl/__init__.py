"""The update-rule language: parse, print, tokens, meaning (``semantics``) and fingerprints of ``Rule`` trees."""

from keras_nos.dsl.fingerprint import fingerprint
from keras_nos.dsl.parser import parse_rule
from keras_nos.dsl.rule import Rule
from keras_nos.dsl.tokens import BINARY_TOKENS, DECAY_OPERAND_TOKENS, OPERAND_TOKENS, UNARY_TOKENS

__all__ = [
    "BINARY_TOKENS", "DECAY_OPERAND_TOKENS", "OPERAND_TOKENS", "Rule", "UNARY_TOKENS", "fingerprint", "parse_rule",
]
