"""Entry point of the ``glasshouse`` command."""

from __future__ import annotations

import socket
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
from glasshouse.cli.models import models_app
from glasshouse.cli.notify import notify_app
from glasshouse.cli.people import people_app
from glasshouse.cli.redact import redact
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
    # Plain help text: Rich markup would swallow every "[env ...]" / "[default: ...]" note as a style tag.
    rich_markup_mode=None,
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
    try:
        listener = _listen(settings.host, settings.port)
    except OSError as exc:
        typer.echo(
            f"glasshouse: cannot listen on {settings.host}:{settings.port} ({exc.strerror or exc}); "
            "choose another port with --port or GLASSHOUSE_PORT.",
            err=True,
        )
        raise typer.Exit(2) from None
    svc = Services(settings)
    app_ = create_app(settings, services=svc)
    # Models load (and, once per kind of machine, their thread settings are measured) while the server
    # starts, not in the first request.
    threading.Thread(target=svc.face_engine.warm_up, name="engine-warm-up", daemon=True).start()
    try:
        # log_config=None: Glasshouse configures JSON logging itself (create_app).
        uvicorn.Server(uvicorn.Config(app_, log_config=None)).run(sockets=[listener])
    finally:
        svc.close()


def _listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket before anything else starts, so a taken port is one clear sentence."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(2048)
    except OSError:
        listener.close()
        raise
    listener.set_inheritable(True)
    return listener


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
app.add_typer(notify_app, name="notify")
app.command("worker")(worker)
app.command("redact")(redact)
app.add_typer(video_app, name="video")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(models_app, name="models")
app.add_typer(bench_app, name="bench")
