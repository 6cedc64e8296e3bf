"""Build stage: Django classes (models, admin, URLs) from solution specs."""
