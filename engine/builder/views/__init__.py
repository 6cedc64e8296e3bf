"""The builder's views: one module per section (see ``engine.builder.urls``)."""
