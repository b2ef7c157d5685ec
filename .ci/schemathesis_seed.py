"""Gives the throwaway hub of .ci/schemathesis.sh something to find, and tells schemathesis where.

Random ids only ever reach a route's 404: without real ones, the handlers behind
`/conversations/{id}`, `/contacts/{id}`… would never run. This signs in, writes two customer
emails through the email webhook (two contacts, two conversations), makes a label, a team and a
canned response, then writes a schemathesis config (TOML) giving each `{id}` route the ids of
its own kind half of the time.

Usage: schemathesis_seed.py BASE_URL EMAIL PASSWORD CONFIG_OUT  (prints the session token)
Standard library only: it runs before and beside the venv's schemathesis.
"""

import hashlib
import hmac
import json
import sys
import urllib.request

BASE, EMAIL, PASSWORD, CONFIG_OUT = sys.argv[1:5]
INBOUND_SECRET = "schemathesis-inbound-secret"


def call(method, path, body=None, token=None, raw=None, headers=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(BASE + path, data=data, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
        return json.loads(text) if text else None


def seed(token):
    inbox = call("POST", "/api/v1/inboxes", token=token, body={
        "name": "Email",
        "channel": "email",
        "config": {"address": "help@example.com", "inbound_secret": INBOUND_SECRET},
    })
    for number, sender in enumerate(["ada@customer.example", "grace@customer.example"]):
        email = (
            f"From: {sender}\r\nTo: help@example.com\r\nSubject: Order {number}\r\n"
            f"Message-ID: <seed-{number}@customer.example>\r\n"
            "Date: Sat, 05 Dec 2026 10:00:00 +0000\r\n\r\n"
            "Where is my parcel? It was due yesterday.\r\n"
        ).encode()
        signature = hmac.new(INBOUND_SECRET.encode(), email, hashlib.sha256).hexdigest()
        call("POST", f"/webhooks/email/{inbox['id']}", raw=email,
             headers={"X-Switchboard-Signature": "sha256=" + signature,
                      "Content-Type": "message/rfc822"})
    call("POST", "/api/v1/labels", token=token, body={"name": "billing"})
    call("POST", "/api/v1/teams", token=token, body={"name": "Tier 2"})
    call("POST", "/api/v1/canned-responses", token=token,
         body={"shortcut": "thanks", "title": "Thanks", "text": "Thank you for writing."})


def ids(token, path, key=None):
    listed = call("GET", path, token=token)
    return [item["id"] for item in (listed[key] if key else listed)]


def config(token):
    # Path prefix of the `{id}` routes → the ids of that kind.
    kinds = {
        "conversations": ids(token, "/api/v1/conversations", "conversations"),
        "contacts": ids(token, "/api/v1/contacts", "contacts"),
        "inboxes": ids(token, "/api/v1/inboxes"),
        "users": ids(token, "/api/v1/users"),
        "kb/articles": ids(token, "/api/v1/kb/articles", "articles"),
        "labels": ids(token, "/api/v1/labels"),
        "teams": ids(token, "/api/v1/teams"),
        "canned-responses": ids(token, "/api/v1/canned-responses"),
        "escalation-rules": ids(token, "/api/v1/escalation-rules"),
        "sla-policies": ids(token, "/api/v1/sla-policies"),
    }
    # Links inferred from `Location` headers (the hub sends none) went wrong here once
    # schemathesis 4.32.5 saw an upload's 201: it linked the upload to `GET /retention` with the
    # parameters of `GET /attachments/{hash}/{filename}` and stopped the stateful phase. The
    # links it infers from the schema's fields stay.
    lines = ["[phases.stateful.inference]", 'algorithms = ["dependency-analysis"]', ""]
    for kind, values in kinds.items():
        if not values:
            continue
        name = kind.replace("/", "_").replace("-", "_")
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    for kind, values in kinds.items():
        if not values:
            continue
        name = kind.replace("/", "_").replace("-", "_")
        lines += [
            "[[operations]]",
            f'include-path-regex = "^/api/v1/{kind}/\\\\{{id\\\\}}"',
            f'parameters = {{ "path.id" = {{ dictionary = "{name}", probability = 0.5 }} }}',
            "",
        ]
    lines += [
        "[[operations]]",
        'include-path-regex = "^/api/v1/teams/\\\\{id\\\\}/members/"',
        'parameters = { "path.user_id" = { dictionary = "users", probability = 0.5 } }',
        "",
    ]
    with open(CONFIG_OUT, "w", encoding="utf-8") as out:
        out.write("\n".join(lines))


def main():
    token = call("POST", "/api/v1/auth/login", body={"email": EMAIL, "password": PASSWORD})["token"]
    seed(token)
    config(token)
    print(token)


if __name__ == "__main__":
    main()
