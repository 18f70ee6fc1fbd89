"""``glasshouse notify add|list|remove``: where the acting organisation's video job notifications go
(Rekognition's NotificationChannel: one webhook per SNS topic ARN)."""

from __future__ import annotations

from typing import Annotated

import typer

from glasshouse.cli.common import err_console, print_json, services

notify_app = typer.Typer(
    help="Webhooks for video job notifications (NotificationChannel SNS topic ARNs) of the acting organisation.",
    no_args_is_help=True,
)

ArnArgument = Annotated[
    str, typer.Argument(help="SNS topic ARN, e.g. arn:aws:sns:us-east-1:123456789012:jobs")
]


@notify_app.command("add")
def add(
    arn: ArnArgument, url: Annotated[str, typer.Argument(help="http(s) URL notifications are posted to.")]
) -> None:
    """Post notifications for ARN to URL. Prints the HMAC secret that signs them, once."""
    with services() as svc:
        actor = svc.cli_actor()
        info, secret = svc.notifications.add(actor, actor.org_id, arn, url)
    print_json({**info.view(), "org": actor.org_name, "secret": secret})
    err_console.print(
        "Store the secret now: receivers verify X-Glasshouse-Signature with it; it is shown only once."
    )


@notify_app.command("list")
def list_() -> None:
    """The acting organisation's notification targets."""
    with services() as svc:
        actor = svc.cli_actor()
        targets = svc.notifications.list(actor.org_id)
    print_json([t.view() for t in targets])


@notify_app.command("remove")
def remove(arn: ArnArgument) -> None:
    """Stop posting notifications for ARN (Start operations naming it are refused from now on)."""
    with services() as svc:
        actor = svc.cli_actor()
        svc.notifications.remove(actor, actor.org_id, arn)
    typer.echo(f"removed {arn}")
