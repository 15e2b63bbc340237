"""The call library's migrations (Alembic), run by callassist.library.schema.ensure."""
