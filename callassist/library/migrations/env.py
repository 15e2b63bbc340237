"""Alembic's entry point for the call library's migrations.

CallAssist runs them itself when it opens a library (`schema.ensure`), on the connection it
holds, inside its own write transaction: `config.attributes["connection"]`. A developer adding a
migration runs `alembic -c callassist/library/migrations/alembic.ini revision -m "..."` and sets
schema.HEAD to the new revision. Imported outside a migration run (a tool listing the package's
modules), it does nothing.
"""
from alembic import context


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise SystemExit("the call library's migrations are run by CallAssist when it opens a "
                         "library (callassist.library.schema.ensure), not from the alembic "
                         "command")
    context.configure(connection=connection,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if hasattr(context, "config"):  # only while Alembic runs this script
    run()
