"""Persistence: SQLAlchemy tables, the unit of work and Alembic migrations.

Internal to omnicore: plugins never import from here.
"""
