"""Business rules of entities: conditions rows must meet, computed values, numbering and defaults.

``spec`` holds what the YAML says (``EntitySpec.rules``, ``FieldSpec.computed/sequence/default_expr``),
``checks`` reports its problems at compile time, ``compile`` turns the expressions into ``engine.expr``
objects (for CHECK constraints and the computed columns of the built models), and ``runtime`` enforces
the rules inside the one write path (``engine.writes``), whatever the row comes from: page, API,
admin or import.
"""
