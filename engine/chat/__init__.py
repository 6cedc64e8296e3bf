"""Chat: direct conversations with staff, tickets about one row, and group channels.

The package follows the pipeline's split: ``spec`` (``ChatSpec`` in ``engine.spec``), ``checks`` (located
``cabinet.E38x``), ``policy`` (who may see and do what, read from the access policy), ``service`` (every
change, written with its event in one transaction), ``live`` (publishing committed events to open streams,
in one process or through Redis), ``stream`` (the Server-Sent Events view), ``api`` and the page kinds
``chat`` and ``inbox`` (``engine.pages``). The database holds the truth; streams deliver what it holds.
"""
