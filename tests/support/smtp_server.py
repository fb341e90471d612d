#!/usr/bin/python3
"""A real SMTP server for the email tests (aiosmtpd), on loopback ports of its own.

Listeners, each on a free port:
  starttls  STARTTLS required before AUTH and MAIL (the submission port, 587)
  tls       TLS from the first byte (465)
  plain     no STARTTLS offered, AUTH allowed in the clear (25, "security": "none")

Every listener requires AUTH (PLAIN or LOGIN, user "mailer" or "info@school.test",
password "s3cret"). A login that is an address may send only as itself (MAIL
FROM another: 553 5.7.1, as Postfix's reject_sender_login_mismatch).
It also offers CRAM-MD5, first in its list as servers order them, and refuses
it (535): a client that picks by its own preference instead of PLAIN/LOGIN fails.
EHLO needs a fully qualified name (504 5.5.2 otherwise, as Postfix's
reject_non_fqdn_helo_hostname). Recipients decide the answer: nobody@...
gets 550 5.1.1, later@... 451 4.3.0,
rejected@... 554 5.7.1; a message to last@... is taken, and the next MAIL
FROM on its connection gets 421 4.7.0 and the connection is closed (a server's
limit of messages per connection, or one that timed an idle connection out). Each accepted message is parsed with Python's email
package (a real MIME parser) and written to OUT_DIR/<n>.json; connections are
counted in OUT_DIR/connections, and each AUTH's mechanism is a line of OUT_DIR/auth. Prints {"starttls": port, ...} once listening,
then runs until stdin closes or SIGTERM.

Usage: smtp_server.py CERT KEY OUT_DIR
"""
import asyncio
import warnings
import base64
import email
import email.policy
import hashlib
import json
import logging
import os
import signal
import socket
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

USERS, PASSWORD = (b"mailer", b"info@school.test"), b"s3cret"
warnings.simplefilter("ignore")  # aiosmtpd's deprecation and AUTH-without-TLS notices
logging.getLogger("mail.log").setLevel(logging.ERROR)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def authenticator(server, session, envelope, mechanism, auth_data):
    CountingSMTP.counter.authenticated(mechanism)
    ok = isinstance(auth_data, LoginPassword) and auth_data.login in USERS and auth_data.password == PASSWORD
    # A refusal is answered 535 by the server (handled=False), as a real one does.
    return AuthResult(success=ok, handled=ok, auth_data=auth_data if ok else None)


def summary(raw, envelope, listener, server):
    session = server.session
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    parts, attachments = [], []
    for part in msg.walk():
        if part.is_multipart():
            continue
        if part.get_content_disposition() == "attachment":
            data = part.get_payload(decode=True)
            attachments.append({"filename": part.get_filename(), "content_type": part.get_content_type(),
                                "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
        else:
            parts.append({"content_type": part.get_content_type(), "charset": part.get_content_charset(),
                          "content": part.get_content()})
    return {
        "listener": listener,
        "helo": session.host_name,
        "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
        "authenticated": bool(session.authenticated),
        "mail_from": envelope.mail_from,
        "rcpt_tos": envelope.rcpt_tos,
        "content_type": msg.get_content_type(),
        "headers": {k: str(v) for k, v in msg.items()},
        "raw_headers": raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace"),
        "defects": [type(d).__name__ for d in msg.defects],
        "parts": parts,
        "attachments": attachments,
    }


class Handler:
    def __init__(self, out_dir, listener, counter):
        self.out_dir, self.listener, self.counter = out_dir, listener, counter

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # As Postfix's reject_non_fqdn_helo_hostname: a bare name (a
        # container's host name) is refused; an address literal is taken.
        if "." not in hostname.strip("[]"):
            return ["504 5.5.2 <%s>: Helo command rejected: need fully-qualified hostname" % hostname]
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if getattr(session, "closing", False):
            asyncio.get_running_loop().call_later(0.05, server.transport.close)
            return "421 4.7.0 smtp.test closing: too many messages on this connection"
        login = session.auth_data.login.decode() if session.auth_data else ""
        if "@" in login and address.lower() != login.lower():
            return "553 5.7.1 <%s>: Sender address rejected: not owned by user %s" % (address, login)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0].lower()
        if local == "nobody":
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        if local == "later":
            return "451 4.3.0 Mailbox temporarily unavailable, try again later"
        if local == "rejected":
            return "554 5.7.1 <%s>: Relay access denied" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        n = self.counter.next_message()
        path = os.path.join(self.out_dir, "%d.json" % n)
        with open(path + ".tmp", "w") as f:
            json.dump(summary(envelope.original_content, envelope, self.listener, server), f, ensure_ascii=False)
        os.rename(path + ".tmp", path)
        if any(address.split("@")[0].lower() == "last" for address in envelope.rcpt_tos):
            session.closing = True
        return "250 2.0.0 Ok: queued as %d" % n


class Counter:
    def __init__(self, out_dir):
        self.out_dir, self.lock, self.messages, self.connections = out_dir, threading.Lock(), 0, 0

    def next_message(self):
        with self.lock:
            self.messages += 1
            return self.messages

    def authenticated(self, mechanism):
        with self.lock:
            with open(os.path.join(self.out_dir, "auth"), "a") as f:
                f.write(mechanism + "\n")

    def connected(self, delta=1):
        with self.lock:
            self.connections = self.connections + delta if delta else 0
            with open(os.path.join(self.out_dir, "connections"), "w") as f:
                f.write(str(self.connections))


class CountingSMTP(SMTP):
    counter = None

    async def auth_CRAM__MD5(self, _, args):
        CountingSMTP.counter.authenticated("CRAM-MD5")
        return AuthResult(success=False, handled=False)

    def connection_made(self, transport):
        if self._original_transport is None:  # not the same connection after STARTTLS
            CountingSMTP.counter.connected()
        super().connection_made(transport)


class Listener(Controller):
    def __init__(self, handler, port, tls_context=None, implicit=False, require_tls=True):
        self.tls_ctx, self.implicit, self.require_tls = tls_context, implicit, require_tls
        super().__init__(handler, hostname="127.0.0.1", port=port,
                         ssl_context=tls_context if implicit else None, server_hostname="localhost")

    def factory(self):
        return CountingSMTP(self.handler, tls_context=None if self.implicit else self.tls_ctx,
                            require_starttls=self.tls_ctx is not None and not self.implicit,
                            auth_required=True, auth_require_tls=self.require_tls and not self.implicit,
                            authenticator=authenticator,
                            hostname="smtp.test", ident="switchboard-test-smtp")


def main():
    cert, key, out_dir = sys.argv[1:4]
    os.makedirs(out_dir, exist_ok=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    counter = Counter(out_dir)
    CountingSMTP.counter = counter
    kinds = {"starttls": dict(tls_context=context), "tls": dict(tls_context=context, implicit=True),
             "plain": dict(tls_context=None, require_tls=False)}
    ports, listeners = {}, []
    for name, options in kinds.items():
        # Another process may take a free port before we bind it: another one then.
        for attempt in range(5):
            ports[name] = free_port()
            listener = Listener(Handler(out_dir, name, counter), ports[name], **options)
            try:
                listener.start()
                break
            except Exception:
                if attempt == 4:
                    raise
        listeners.append(listener)
    counter.connected(0)  # the listeners' own start-up checks do not count
    print(json.dumps(ports), flush=True)
    done = threading.Event()
    # Not done.set(): a handler runs on the main thread, which may hold the
    # event's lock at that moment (it did: a test waited forever for us).
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    for listener in listeners:
        listener.stop()


if __name__ == "__main__":
    main()
