"""The REST API: generic pieces (errors, auth, pagination, base viewset); ``engine.build.api`` makes the
per-version routes from the specs."""
