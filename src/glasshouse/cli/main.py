"""Entry point of the ``glasshouse`` command."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from glasshouse import __version__
from glasshouse.cli import collections as collection_commands
from glasshouse.cli import common
from glasshouse.cli import faces as face_commands
from glasshouse.cli.audit import audit_app
from glasshouse.cli.bench import bench_app
from glasshouse.cli.evaluate import evaluate_app
from glasshouse.cli.governance import org_app, policy_app, retention_app
from glasshouse.cli.keys import keys_app
from glasshouse.cli.media import media_app
from glasshouse.cli.people import people_app
from glasshouse.cli.testing import testing_app
from glasshouse.cli.transparency import transparency_app
from glasshouse.cli.video import video_app
from glasshouse.cli.worker import worker
from glasshouse.config import Settings

app = typer.Typer(
    name="glasshouse",
    help="Self-hosted face recognition with accountability built in.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    org: Annotated[
        str | None,
        typer.Option("--org", help="Act as this organisation [env GLASSHOUSE_ORG; default: local]."),
    ] = None,
) -> None:
    """Self-hosted face recognition with accountability built in."""
    common.acting_org = org


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address [env GLASSHOUSE_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port [env GLASSHOUSE_PORT].")] = None,
) -> None:
    """Run the HTTP service (SQLite and files under ./var unless configured otherwise)."""
    import uvicorn

    from glasshouse.http.app import create_app
    from glasshouse.services import Services

    settings = Settings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = settings.model_copy(update=overrides)
    svc = Services(settings)
    app_ = create_app(settings, services=svc)
    # Models load (and, once per kind of machine, their thread settings are measured) while the server
    # starts, not in the first request.
    threading.Thread(target=svc.face_engine.warm_up, name="engine-warm-up", daemon=True).start()
    try:
        # log_config=None: Glasshouse configures JSON logging itself (create_app).
        uvicorn.run(app_, host=settings.host, port=settings.port, log_config=None)
    finally:
        svc.close()


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


app.command()(face_commands.detect)
app.command()(face_commands.compare)
app.add_typer(collection_commands.collection_app, name="collection")
app.command()(collection_commands.index)
app.command()(collection_commands.search)
app.add_typer(keys_app, name="keys")
app.add_typer(org_app, name="org")
app.add_typer(policy_app, name="policy")
app.add_typer(retention_app, name="retention")
app.add_typer(audit_app, name="audit")
app.add_typer(transparency_app, name="transparency")
app.add_typer(testing_app, name="testing")
app.add_typer(people_app, name="people")
app.add_typer(media_app, name="media")
app.command("worker")(worker)
app.add_typer(video_app, name="video")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(bench_app, name="bench")
