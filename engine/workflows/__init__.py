"""Workflow behaviour: guards, fields filled on the way, actions on transitions, states and row events.

``checks`` refuses what could not take effect; ``runtime`` runs guards and actions inside the write path
(``engine.writes``) through its hooks.
"""
