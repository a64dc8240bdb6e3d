"""A WebAdMIT whose names are hostile (the simulator's hostile-names world: CR/LF, NUL, 10,000 characters,
`<script>`, `=HYPERLINK(...)`, `<!channel>`, markdown links, a right-to-left override, emoji), seen through every
surface in Chromium and over HTTP: no page runs a script or answers 500, names show as text, the API and the CSV carry
them cleaned and neutralised, and a mail and webhooks about such a file have one-line titles and escaped markup."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest
import requests
from django.utils import timezone

from tests.support.browser import screenshot, sign_in
from tests.support.mail import SmtpServer, WebhookReceiver
from tests.support.waiting import eventually
from tests.support.worker import CeleryWorker, purge_queue
from webadmit_dash.api import tokens
from webadmit_dash.core.models import Export, ExportFile, UserIdentity
from webadmit_dash.notifications.models import EventKind, Subscription, Webhook
from webadmit_dash.simulator.data import SimulatedWorld

pytestmark = pytest.mark.browser

SCRIPT = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://evil.example","x")'
LINE_BREAKS = "Decision Letters\r\nBcc: everyone@example.org"
MARKDOWN = "[Click here](https://evil.example)"
CHANNEL = "<!channel> Deposit Report"


@pytest.fixture
def world() -> SimulatedWorld:
    # Two identities of five exports each: every hostile name is an export's; statuses move only when forced.
    return SimulatedWorld(
        seed=7, identities=2, files_per_identity=6, pace=86_400, new_run_every=None, hostile_names=True
    )


def _pages(stack) -> list[str]:
    """Every page a person can open: Recent Files, a file page per export, Identities, Notifications, API tokens,
    and the admin's lists of identities, exports and files."""
    file_pages = [
        f"/files/{ExportFile.objects.filter(export=export).values_list('pk', flat=True).first()}/"
        for export in Export.objects.filter(files__isnull=False).distinct()
    ]
    return [
        "/",
        *file_pages,
        "/identities/",
        "/notifications/",
        "/api/tokens/",
        "/admin/dashboard/useridentity/",
        "/admin/dashboard/export/",
        "/admin/dashboard/exportfile/",
        f"/admin/dashboard/useridentity/{stack.identities[0].pk}/change/",
    ]


def _scripts_running(page) -> bool:
    """Whether the page holds a script element with the names' code, or ran it (alert is replaced first)."""
    return page.evaluate(
        "() => window.__alerted === true || [...document.scripts].some(s => s.textContent.includes('alert(1)'))"
    )


def test_every_page_shows_hostile_names_as_text_without_running_them(stack, page):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.add_init_script(script="window.alert = function () { window.__alerted = true; };")
    sign_in(page, stack.base_url, stack.user.username, stack.password)

    for path in _pages(stack):
        response = page.goto(f"{stack.base_url}{path}")
        assert response is not None and response.status == 200, f"{path} answered {response and response.status}"
        html = page.content()
        assert "\x00" not in html, f"{path} shows a NUL"
        assert not _scripts_running(page), f"{path} runs a name's script"
        assert page.locator("a[href^='https://evil.example'], a[href^='http://evil.example']").count() == 0, path
        assert "Long name " * 400 not in html, f"{path} shows a 10,000-character name in full"
    assert dialogs == []

    # The names are shown, escaped: as the text that was typed.
    page.goto(f"{stack.base_url}/")
    assert page.get_by_text(SCRIPT).count() >= 1
    assert page.get_by_text(FORMULA).count() >= 1
    assert page.get_by_text(CHANNEL).count() >= 1
    assert page.get_by_text("NightlyBanner Export").count() >= 1, "the NUL removed, nothing else"
    screenshot(page, "hostile-names-recent-files")
    page.goto(f"{stack.base_url}/identities/")
    screenshot(page, "hostile-names-identities")


def test_the_api_and_the_csv_carry_hostile_names_cleaned_and_neutralised(stack):
    secret = tokens.create(stack.user, "hostile names").secret
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {secret}"

    files = api.get(f"{stack.base_url}/api/v1/files", params={"limit": 100}, timeout=10)
    assert files.status_code == 200
    names = {item["export_name"] for item in files.json()["items"]}
    stored = set(Export.objects.filter(files__isnull=False).values_list("name", flat=True))
    assert names == stored and {SCRIPT, FORMULA, LINE_BREAKS, MARKDOWN, CHANNEL} <= names
    assert not any("\x00" in name for name in names)
    assert max(len(name) for name in names) == Export._meta.get_field("name").max_length

    identities = api.get(f"{stack.base_url}/api/v1/identities", timeout=10).json()["items"]
    assert {identity["association"] for identity in identities} == {LINE_BREAKS, "NightlyBanner Export"}

    table = api.get(f"{stack.base_url}/api/v1/files.csv", timeout=10)
    assert table.status_code == 200
    rows = list(csv.reader(io.StringIO(table.content.decode("utf-8-sig"), newline="")))
    cells = [cell for row in rows[1:] for cell in row]
    assert "'" + FORMULA in cells and FORMULA not in cells
    assert all(not cell.lstrip().startswith(("=", "+", "-", "@")) for cell in cells)
    assert not any("\x00" in cell for cell in cells)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def notifying_engine(stack, smtp: SmtpServer, receiver: WebhookReceiver) -> Iterator[CeleryWorker]:
    """The real worker with beat, refreshing every second, mailing through the test's server and posting to the
    test's receiver (a loopback address an administrator allowed)."""
    UserIdentity.objects.update(fast_interval=1, slow_interval=2, next_refresh_at=timezone.now())
    purge_queue()
    env = {
        **smtp.environment,
        "WEBADMIT_DISPATCH_EVERY": "1",
        "NOTIFY_FAN_OUT_EVERY": "1",
        "SITE_URL": stack.base_url,
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    }
    worker = CeleryWorker(beat=True, env=env, name="hostile-names")
    try:
        yield worker.start()
    finally:
        worker.close()


def _subscribe_with_webhooks(stack, receiver: WebhookReceiver, settings) -> None:
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # the receiver's loopback address, allowed as an admin would
    hooks = []
    for kind in (Webhook.Kind.GENERIC, Webhook.Kind.SLACK, Webhook.Kind.TEAMS):
        hook = Webhook(name=f"Ops {kind}", kind=kind)
        hook.set_url(f"{receiver.url}/{kind}")
        hook.set_secret("whsec-hostile-names-0123456789")
        hook.save()
        hooks.append(hook)
    subscription = Subscription.objects.create(user=stack.user, all_identities=True, events=[EventKind.AVAILABLE])
    subscription.webhooks.set(hooks)


def _teams_texts(body: dict) -> list[str]:
    card = body["attachments"][0]["content"]
    return [block["text"] for block in card["body"]] + [action["title"] for action in card.get("actions", [])]


@pytest.mark.worker
@pytest.mark.timeout(240)
def test_a_mail_and_webhooks_about_a_hostile_file_have_one_line_titles_and_escaped_markup(
    stack, smtp, receiver, notifying_engine, settings
):
    _subscribe_with_webhooks(stack, receiver, settings)
    # Runs of three exports of one identity, named with line breaks, a markdown link and a Slack @channel.
    identity = Export.objects.get(name=CHANNEL).identity
    runs = []
    for name in (LINE_BREAKS, MARKDOWN, CHANNEL):
        export = Export.objects.get(identity=identity, name=name)
        answer = stack.control("POST", f"identities/{identity.webadmit_id}/runs", export_id=export.webadmit_id)
        runs.append(answer["export_files"]["id"])
    eventually(lambda: identity.files.filter(webadmit_id__in=runs).count() == 3, 60, "the new runs to be listed")
    for run in runs:
        stack.control("POST", f"files/{run}", status="Available")

    calls = eventually(lambda: len(receiver.received()) >= 9 and receiver.received(), 90, "3 events x 3 webhooks")
    bodies: dict[str, list[dict]] = {"generic": [], "slack": [], "teams": []}
    for call in calls:
        bodies[call.path.rsplit("/", 1)[-1]].append(json.loads(call.body))

    # Generic JSON: a one-line title; the names themselves as data, exactly as stored.
    assert {body["file"]["export_name"] for body in bodies["generic"]} == {LINE_BREAKS, MARKDOWN, CHANNEL}
    for body in bodies["generic"]:
        assert "\n" not in body["title"] and "\r" not in body["title"], body["title"]
    # Slack: the bold headline whole on its first line; `<`, `>` and `&` of names escaped (no @channel ping).
    for body in bodies["slack"]:
        headline = body["text"].split("\n", 1)[0]
        assert headline.startswith("*Ready: ") and headline.endswith("*"), body["text"]
        assert "<!channel>" not in body["text"], body["text"]
    assert any("&lt;!channel&gt; Deposit Report" in body["text"] for body in bodies["slack"])
    # Teams: a one-line headline block, and a name's markdown link does not stay a link anywhere.
    for body in bodies["teams"]:
        texts = _teams_texts(body)
        assert "\n" not in texts[0] and "\r" not in texts[0], texts[0]
        assert not any(MARKDOWN in text for text in texts), texts

    # The mails: one subject line, no header smuggled in by a name, the markup escaped in the HTML.
    messages = eventually(lambda: len(smtp.received()) >= 3 and smtp.received(), 30, "the mails")
    for message in messages:
        subject = str(message["Subject"])
        assert "\r" not in subject and "\n" not in subject, subject
        assert message["Bcc"] is None
        assert "<!channel>" not in message.get_body(preferencelist=("html",)).get_content()
    assert any("Decision Letters Bcc: everyone@example.org" in str(message["Subject"]) for message in messages)


def test_a_subscription_to_exports_with_hostile_names_is_saved_with_those_names(stack, page):
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.goto(f"{stack.base_url}/notifications/")
    page.get_by_label("Every identity I may see, including ones granted later").check()
    for name in (LINE_BREAKS, SCRIPT, FORMULA):
        # The checkbox whose value is the name (HTML reads its CR/LF as LF; a form sends it back as CR/LF).
        page.evaluate(
            "(name) => { [...document.querySelectorAll('input[name=export_names]')]"
            ".find((box) => box.value === name.replace(/\\r\\n?/g, '\\n')).checked = true; }",
            name,
        )
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_text("Subscription saved.").wait_for()
    assert sorted(Subscription.objects.get(user=stack.user).export_names) == sorted([LINE_BREAKS, SCRIPT, FORMULA])
    assert not _scripts_running(page)
