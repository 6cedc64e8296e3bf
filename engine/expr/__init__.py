"""The typed expression and scope core: one language for scopes, filters, guards, rules and values.

``compile_expr`` parses (stdlib ``ast`` through simpleeval) and type-checks an expression against the
solution spec once, at check time; the resulting ``Expr`` lists the paths it reads, compiles to ORM
filters and expressions, and evaluates on plain values with simpleeval's bounded evaluator.
"""
from .core import Env, Expr, compile_expr, env_for, read_values
from .locate import located
from .parse import ExprError
from .types import Type

__all__ = ["Env", "Expr", "ExprError", "Type", "compile_expr", "env_for", "located", "read_values"]
