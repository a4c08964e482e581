"""``email/*``: a plain-text email over SMTP (STARTTLS or implicit TLS, optional login).

smtplib runs in a worker thread. Connection trouble and 4xx replies are retried;
5xx replies (a refused recipient, failed login) and a server without the STARTTLS
asked for are not.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from pydantic import Field, field_validator

from otelproc.analysis.notification import Notification
from otelproc.config_types import Component, Duration, split_endpoint
from otelproc.errors import ExportError


class EmailConfig(Component):
    smtp: str = Field(..., description="host:port of the SMTP server (587: submission with STARTTLS)")
    from_: str = Field(..., alias="from", min_length=3)
    to: list[str] = Field(..., min_length=1)
    username: str | None = None
    password: str | None = Field(None, repr=False)
    starttls: bool = Field(True, description="upgrade with STARTTLS (required: a server without it is an error)")
    tls: bool = Field(False, description="implicit TLS from the first byte (port 465); starttls is then unused")
    ca_file: Path | None = Field(None, description="CA bundle to verify the server with (default: the system's)")
    insecure_skip_verify: bool = False
    timeout: Duration = Field(15.0, gt=0)
    subject_prefix: str = "[otelproc]"

    @field_validator("smtp")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        split_endpoint(value)
        return value


def render(n: Notification) -> str:
    lines = [n.title(), ""]
    if n.message:
        lines += [n.message, ""]
    width = max((len(k) for k, _ in n.facts()), default=0)
    lines += [f"{k.ljust(width)}  {v}" for k, v in n.facts()]
    if n.message_template:
        lines += ["", "Message:", f"  {n.message_template}"]
    if n.links:
        lines += ["", *(f"{k.capitalize()}: {url}" for k, url in n.links.items())]
    if n.report_body:
        lines += ["", "-" * 72, "", n.report_body]
    lines += ["", f"-- otelproc ({n.event}, delivery {n.id})"]
    return "\n".join(lines)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return False
    return isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError))


class EmailChannel:
    def __init__(self, name: str, config: EmailConfig):
        self.name = name
        self.config = config
        self.host, self.port = split_endpoint(config.smtp)

    @classmethod
    def from_config(cls, name: str, config: EmailConfig) -> "EmailChannel":
        return cls(name, config)

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.config.ca_file) if self.config.ca_file else None)
        if self.config.insecure_skip_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def message(self, n: Notification) -> EmailMessage:
        cfg = self.config
        msg = EmailMessage()
        msg["Subject"] = f"{cfg.subject_prefix} {n.title()}".strip()
        msg["From"] = cfg.from_
        msg["To"] = ", ".join(cfg.to)
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(idstring=n.id, domain="otelproc")
        msg["X-Otelproc-Event"] = n.event
        msg.set_content(render(n))
        return msg

    def _send(self, msg: EmailMessage) -> None:
        cfg = self.config
        if cfg.tls:
            client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=cfg.timeout, context=self._context())
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=cfg.timeout)
        try:
            client.ehlo()
            if cfg.starttls and not cfg.tls:
                client.starttls(context=self._context())
                client.ehlo()
            if cfg.username:
                client.login(cfg.username, cfg.password or "")
            client.send_message(msg)
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()

    async def send(self, notification: Notification) -> None:
        try:
            await asyncio.to_thread(self._send, self.message(notification))
        except (smtplib.SMTPException, OSError) as exc:
            raise ExportError(f"{type(exc).__name__}: {exc}", retryable=_retryable(exc)) from exc

    async def close(self) -> None:
        return None
