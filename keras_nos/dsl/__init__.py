"""The update-rule language: ``Rule`` trees and what is done with them.

``Rule`` (``rule.py``) is the tree and its text; each operation lives in its own
module, imports ``rule`` and is a function that takes a rule (or its text):
``parse_rule``, ``fingerprint``, ``tokens_to_rule`` and ``rule_to_tokens``,
``simplify``, ``to_latex`` and ``to_unicode``. ``semantics`` says what each
operand means.
"""

from keras_nos.dsl.fingerprint import fingerprint
from keras_nos.dsl.parser import parse_rule
from keras_nos.dsl.pretty import to_latex, to_unicode
from keras_nos.dsl.rule import Rule
from keras_nos.dsl.simplify import simplify
from keras_nos.dsl.tokens import (
    BINARY_TOKENS, DECAY_OPERAND_TOKENS, OPERAND_TOKENS, UNARY_TOKENS, rule_to_tokens, tokens_to_rule,
)

__all__ = [
    "BINARY_TOKENS", "DECAY_OPERAND_TOKENS", "OPERAND_TOKENS", "Rule", "UNARY_TOKENS", "fingerprint", "parse_rule",
    "rule_to_tokens", "simplify", "to_latex", "to_unicode", "tokens_to_rule",
]
