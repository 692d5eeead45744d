#!/usr/bin/env python3
"""Browser tests of the operator console (/console/), driving headless Chromium with Playwright.

    python3 tests/browser/console.py --base http://127.0.0.1:8470 \\
        --token example-token-operator --sender-token example-token-cpi-cremona \\
        --dead-id <a delivery id that is a dead letter>

Prints one line per check and `N passed, M failed` last; exits 0 only if every check passed.
It first sends a canonical message with the sender token (POST /v1/messages), then, in the
browser: login with a bad and a good token, the language switch, keyboard use, a search that
finds the message, its timeline, malformed search parameters, replaying the given dead
letter until it shows delivered, the validate page locating an error, every view scanned by
axe-core (no serious or critical violation), a lost session sending the browser to the login
page; and throughout, no request to another origin and no JavaScript error.

Needs `pip install playwright==1.49.0` and Chromium at /usr/bin/chromium (Debian's
`chromium` package); it never downloads a browser. `--screenshots DIR` saves a screenshot of
each failing check; CONSOLE_TEST_TRACE=1 prints each failure's traceback.
"""

import argparse
import datetime as dt
import json
import os
import secrets
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

HERE = os.path.dirname(os.path.abspath(__file__))
AXE = os.path.join(HERE, "vendor", "axe.min.js")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Explicit waits: each is an upper bound, never a pause.
WAIT_MS = 10_000

# ---------------------------------------------------------------------------------------
# The messages the test sends and validates: a fictitious care worker, whose codice fiscale
# is computed here so that it agrees with the birth date, sex and comune.

# The value of a character in an odd position (the 1st, 3rd...), from the official table;
# in an even position a digit counts as itself and a letter as its place in the alphabet.
ODD_VALUES = "1 0 5 7 9 13 15 17 19 21 1 0 5 7 9 13 15 17 19 21 2 4 18 20 11 3 6 8 12 14 16 10 22 25 24 23"
ODD = dict(zip("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", map(int, ODD_VALUES.split())))


def check_character(first15):
    total = 0
    for index, char in enumerate(first15):
        total += ODD[char] if index % 2 == 0 else (int(char) if char.isdigit() else ord(char) - 65)
    return chr(65 + total % 26)


# Paola Verdi, born in Cremona (D150) on 12 May 1970: VRD PLA 70 E 52 D150.
CF_STEM = "VRDPLA70E52D150"
CF = CF_STEM + check_character(CF_STEM)
BAD_CF = CF_STEM + ("A" if CF[-1] != "A" else "B")


def worker_registered(source, message_id, codice_fiscale):
    return {
        "specversion": "1.0",
        "id": message_id,
        "source": source,
        "type": "it.raccordo.worker.registered.v1",
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "dataschema": "https://raccordo.github.io/schemas/standard/worker.registered.v1.schema.json",
        "datacontenttype": "application/json",
        "data": {
            "registration": {"cpi": "CPI-CR01", "entryId": "EAF-2026-000777", "registeredOn": "2026-01-15"},
            "person": {
                "codiceFiscale": codice_fiscale,
                "familyName": "Verdi",
                "givenName": "Paola",
                "sex": "F",
                "birthDate": "1970-05-12",
                "birthPlace": {"comune": "D150"},
                "citizenship": "100",
            },
            "residence": {"comune": "D150"},
            "italianLevel": "C2",
            "availability": {"arrangements": ["hourly"], "hoursPerWeek": 20, "comuni": ["D150"]},
        },
    }


# ---------------------------------------------------------------------------------------
# Reporting.


class Checks:
    def __init__(self, screenshots=None):
        self.passed = 0
        self.failed = 0
        self.screenshots = screenshots
        self.page = None

    def run(self, name, function, *args):
        """Runs one check; a failure is reported and the run goes on with the next one."""
        started = time.monotonic()
        try:
            detail = function(*args)
        except Exception as error:  # noqa: BLE001 - every failure is a failed check, reported.
            self.failed += 1
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            print(f"FAIL {name}: {reason}", flush=True)
            if self.screenshots and self.page is not None:
                os.makedirs(self.screenshots, exist_ok=True)
                shot = os.path.join(self.screenshots, f"fail-{self.failed:02d}.png")
                try:
                    self.page.screenshot(path=shot, full_page=True)
                    print(f"     screenshot: {shot}", flush=True)
                except PlaywrightError:
                    pass
            if os.environ.get("CONSOLE_TEST_TRACE"):
                traceback.print_exc()
            return None
        self.passed += 1
        elapsed = time.monotonic() - started
        print(f"ok   {name}{f' ({detail})' if isinstance(detail, str) and detail else ''} [{elapsed:.1f}s]", flush=True)
        return detail if detail is not None else True


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


# ---------------------------------------------------------------------------------------
# The checks.


class ConsoleTest:
    def __init__(self, args, page, context):
        self.args = args
        self.base = args.base.rstrip("/")
        self.console = f"{self.base}/console/"
        self.page = page
        self.context = context
        self.message_id = None
        self.sender_message_id = None
        with open(AXE, encoding="utf-8") as file:
            self.axe_source = file.read()
        self.scanned = []
        self.page_errors = []

    # -- helpers ---------------------------------------------------------------------------

    def go(self, route):
        """Opens a view by its URL, as a bookmark would."""
        self.page.goto(f"{self.console}#{route}")
        self.wait_view()

    def wait_until(self, predicate, arg=None, timeout_ms=WAIT_MS, what="a condition"):
        """Polls `predicate` (a JavaScript function) until it returns true.

        Playwright's own predicate waits compile their predicate inside the page, which the
        console's Content-Security-Policy (no 'unsafe-eval') rightly refuses; page.evaluate
        goes through the DevTools protocol instead, so the test polls with it.
        """
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            if self.page.evaluate(predicate, arg):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_ms} ms waiting for {what}")
            self.page.wait_for_timeout(50)

    def wait_view(self):
        """Waits until the view has its heading and nothing on the page is still loading."""
        self.page.wait_for_selector("main h1", timeout=WAIT_MS)
        self.wait_until(
            '() => !document.querySelector(\'main [aria-busy="true"], main[aria-busy="true"]\')',
            what="the view to finish loading",
        )

    def axe(self, name):
        """Runs axe-core on the page; fails on any serious or critical violation."""
        # Scroll containers become keyboard stops from a ResizeObserver, which reports after
        # layout, and again once web fonts have loaded: the fonts, then two animation
        # frames, let a view just rendered settle before it is judged.
        self.page.evaluate(
            """async () => {
                await document.fonts.ready;
                await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
            }"""
        )
        # Evaluated through the DevTools protocol, which the page's CSP does not govern, so the
        # console keeps its real policy (no inline scripts) while it is scanned.
        if not self.page.evaluate("() => typeof window.axe !== 'undefined'"):
            self.page.evaluate(self.axe_source + "\n;undefined")
        result = self.page.evaluate("""async () => {
                const results = await axe.run(document, { resultTypes: ['violations'] });
                return results.violations.map((v) => ({
                    id: v.id, impact: v.impact, help: v.help,
                    targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
                }));
            }""")
        grave = [v for v in result if v["impact"] in ("serious", "critical")]
        self.scanned.append(name)
        expect(
            not grave,
            "; ".join(f"{v['impact']} {v['id']} ({v['help']}) at {', '.join(v['targets'])}" for v in grave),
        )
        minor = [f"{v['impact']} {v['id']}" for v in result if v not in grave]
        return f"minor: {', '.join(minor)}" if minor else ""

    # -- sending ---------------------------------------------------------------------------

    def send_message(self):
        self.sender_message_id = f"console-test-{int(time.time())}-{secrets.token_hex(3)}"
        body = json.dumps(worker_registered(self.args.sender_source, self.sender_message_id, CF)).encode()
        request = urllib.request.Request(
            f"{self.base}/v1/messages",
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {self.args.sender_token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                status = response.status
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise AssertionError(f"POST /v1/messages answered {error.code}: {error.read()[:300]!r}") from None
        expect(status == 202, f"POST /v1/messages answered {status}, not 202")
        self.message_id = answer.get("id")
        expect(self.message_id, f"the 202 body has no id: {answer}")
        return self.message_id

    # -- login -----------------------------------------------------------------------------

    def login_required(self):
        self.page.goto(self.console)
        self.page.wait_for_url("**/console/login**", timeout=WAIT_MS)
        self.page.wait_for_selector("#token", timeout=WAIT_MS)

    def bad_login(self):
        self.page.fill("#token", "not-a-token-" + secrets.token_hex(4))
        self.page.click("#login-submit")
        self.page.wait_for_url("**/console/login?error=1", timeout=WAIT_MS)
        error = self.page.wait_for_selector("#login-error", state="visible", timeout=WAIT_MS)
        expect(error.inner_text().strip(), "the error message is empty")
        expect(self.page.get_attribute("#token", "aria-invalid") == "true", "the token field is not marked invalid")
        expect(self.page.query_selector("#primary-nav") is None, "the navigation shows without a session")
        expect(self.page.query_selector("main table") is None, "data shows without a session")
        return self.axe("login page")

    def good_login(self):
        self.page.fill("#token", self.args.token)
        self.page.click("#login-submit")
        self.page.wait_for_url(f"{self.console}**", timeout=WAIT_MS)
        self.page.wait_for_selector(".cards", timeout=WAIT_MS)
        operator = self.page.inner_text("#operator-name")
        expect(operator.strip(), "the operator's name is not shown")
        return operator.strip()

    # -- views -----------------------------------------------------------------------------

    def overview(self):
        self.go("/")
        self.page.wait_for_selector("svg.chart rect.bar-accepted", state="attached", timeout=WAIT_MS)
        bars = self.page.locator("svg.chart g rect.bar-accepted").count()
        expect(bars == 60, f"the throughput chart has {bars} bars, not 60")
        expect(self.page.locator("#overview-pause").count() == 1, "no way to pause the refresh")
        # The figures are polled: the 'updated at' line changes within two refreshes.
        first = self.page.inner_text("#overview-updated")
        self.wait_until(
            "(before) => document.getElementById('overview-updated').textContent !== before",
            first,
            timeout_ms=12_000,
            what="the overview to refresh",
        )
        return self.axe("overview")

    def language_switch(self):
        self.go("/messages")
        nav = self.page.locator('#primary-nav a[data-nav="messages"]')
        expect(nav.inner_text().strip() == "Messaggi", f"the navigation says {nav.inner_text()!r}, not Messaggi")
        self.page.click('#language-switch button[data-language="en"]')
        self.wait_until("() => document.documentElement.lang === 'en'", what="lang=en")
        self.wait_until(
            "() => document.querySelector('main h1')?.textContent.trim() === 'Messages'", what="the English heading"
        )
        expect(nav.inner_text().strip() == "Messages", "the navigation did not switch to English")
        expect(self.page.locator("#search-submit").inner_text().strip() == "Search", "the form did not switch")
        # The choice is remembered across a reload.
        self.page.reload()
        self.wait_view()
        expect(self.page.evaluate("document.documentElement.lang") == "en", "English was not remembered")
        expect(nav.inner_text().strip() == "Messages", "English labels were not remembered")
        label = self.page.locator('.form-group[data-field="codiceFiscale"] label')
        if label.count():
            expect(label.inner_text().strip() == "Codice fiscale", "the domain term codice fiscale was translated")
        self.page.click('#language-switch button[data-language="it"]')
        self.wait_until(
            "() => document.querySelector('main h1')?.textContent.trim() === 'Messaggi'", what="the Italian heading"
        )
        expect(nav.inner_text().strip() == "Messaggi", "the navigation did not switch back to Italian")
        expect(
            self.page.get_attribute('#language-switch button[data-language="it"]', "aria-pressed") == "true",
            "the Italian button is not marked pressed",
        )
        return "it → en → it"

    def default_language(self):
        """With no choice remembered, the page takes the browser's language."""
        self.page.evaluate("localStorage.clear()")
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        try:
            # As a browser set to British English would report it (the context itself is Italian).
            page.add_init_script(
                "Object.defineProperty(Navigator.prototype, 'languages', { get: () => ['en-GB', 'en'] });"
            )
            page.goto(f"{self.console}login")
            page.wait_for_selector('html[lang="en"]', state="attached", timeout=WAIT_MS)
            heading = page.inner_text("main h1").strip()
            expect(heading == "Sign in to the operator console", f"the login page says {heading!r}")
        finally:
            page.close()
        return "en-GB → English"

    def skip_link_first(self):
        # A fresh page load: the focus starts at the top of the document.
        self.go("/messages")
        self.page.reload()
        self.wait_view()
        self.page.keyboard.press("Tab")
        focused = self.page.evaluate("document.activeElement.id")
        expect(focused == "skip-link", f"the first Tab reaches #{focused}, not the skip link")
        self.page.keyboard.press("Enter")
        focused = self.page.evaluate("document.activeElement.id")
        expect(focused == "main", f"the skip link moved the focus to #{focused}, not <main>")
        return ""

    def keyboard_search(self):
        self.go("/messages")
        self.page.fill('input[name="id"]', self.message_id)
        self.page.focus('input[name="id"]')
        for _ in range(15):
            if self.page.evaluate("document.activeElement.id") == "search-submit":
                break
            self.page.keyboard.press("Tab")
        expect(
            self.page.evaluate("document.activeElement.id") == "search-submit", "Tab never reached the search button"
        )
        # The search button shows that it has the focus.
        outline = self.page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        expect(outline not in ("none", ""), "the focused search button has no visible outline")
        self.page.keyboard.press("Enter")
        self.wait_until(
            "(id) => new URLSearchParams(location.hash.split('?')[1] || '').get('id') === id",
            self.message_id,
            what="the search URL",
        )
        self.wait_view()
        return "Tab to Search, Enter"

    def search_finds_message(self):
        link = self.page.wait_for_selector(f'main table a[href="#/messages/{self.message_id}"]', timeout=WAIT_MS)
        expect(link.inner_text().strip() == self.message_id, "the row does not show the message id")
        rows = self.page.locator("main table tbody tr").count()
        expect(rows == 1, f"the search by id gave {rows} rows")
        result = self.axe("messages")
        return result

    def codice_fiscale_search(self):
        session = self.context.request.get(f"{self.console}api/session").json()
        field = self.page.locator('input[name="codiceFiscale"]')
        if not session.get("canSearchCodiceFiscale"):
            self.go("/messages")
            expect(field.count() == 0, "the codice fiscale field shows though the session may not search by it")
            return "not allowed for this operator: field hidden"
        self.go("/messages")
        expect(field.count() == 1, "the codice fiscale field is missing though the session allows it")
        field.fill(CF)
        self.page.click("#search-submit")
        self.page.wait_for_selector(f'main table a[href="#/messages/{self.message_id}"]', timeout=WAIT_MS)
        url = self.page.evaluate("location.href")
        expect(CF not in url.upper(), "the codice fiscale is in the page address")
        # Back and forward keep the search, from the history entry rather than the address.
        self.page.go_back()
        self.wait_view()
        self.page.go_forward()
        self.page.wait_for_selector(f'main table a[href="#/messages/{self.message_id}"]', timeout=WAIT_MS)
        expect(field.input_value() == CF, "the codice fiscale was not kept in the history entry")
        return "found, and kept out of the URL"

    def message_timeline(self):
        self.page.click(f'main table a[href="#/messages/{self.message_id}"]')
        self.wait_until("(hash) => location.hash === hash", f"#/messages/{self.message_id}", what="the message URL")
        self.wait_view()
        expect(self.message_id in self.page.inner_text("main h1"), "the heading does not name the message")
        events = self.page.locator("table.timeline tbody [data-event]")
        expect(events.count() >= 1, "the timeline is empty")
        names = [events.nth(i).get_attribute("data-event") for i in range(events.count())]
        expect("received" in names, f"no received event in the timeline: {names}")
        canonical = self.page.inner_text("#message-canonical + pre")
        expect(self.sender_message_id in canonical, "the canonical form does not show the message")
        deliveries = self.page.locator("section.delivery").count()
        expect(deliveries >= 1, "no delivery shown")
        # Back returns to the search results.
        self.page.go_back()
        self.page.wait_for_selector(f'main table a[href="#/messages/{self.message_id}"]', timeout=WAIT_MS)
        self.page.go_forward()
        self.wait_view()
        detail = f"{len(names)} events: {', '.join(names)}"
        minor = self.axe("message")
        # A web font loading late can make a block overflow without resizing it, which no
        # ResizeObserver reports: the console looks at its scroll containers again when
        # fonts finish loading.
        rechecked = self.page.evaluate("""() => {
            const block = document.querySelector('#message-canonical + pre');
            if (block.getAttribute('tabindex') !== '0') return 'not a keyboard stop to begin with';
            block.removeAttribute('tabindex');
            document.fonts.dispatchEvent(new Event('loadingdone'));
            return block.getAttribute('tabindex');
        }""")
        expect(rechecked == "0", f"after fonts loaded, the canonical form's block is no keyboard stop ({rechecked})")
        return f"{detail}; {minor}" if minor else detail

    def refused_replay(self):
        """Replaying a message every recipient acknowledged is refused, and the page says why."""
        self.go(f"/messages/{urllib.parse.quote(self.message_id)}")
        status = ".message-body > dl.facts [data-status]"
        deadline = time.monotonic() + 10
        while self.page.get_attribute(status, "data-status") != "delivered":
            if time.monotonic() > deadline:
                return "skipped: the test message was not delivered within 10 s"
            self.page.click("#message-refresh")
            self.wait_view()
            self.page.wait_for_timeout(250)
        self.page.click("#message-replay")
        dialog = self.page.wait_for_selector("dialog[open]", timeout=WAIT_MS)
        dialog.query_selector("button.button-primary").click()
        alert = self.page.wait_for_selector(".action-outcome [role=alert]", timeout=WAIT_MS)
        text = alert.inner_text().strip()
        lines = [line for line in text.splitlines() if line.strip()]
        expect(len(lines) >= 2, f"the refusal gives no reason: {text!r}")
        expect(self.page.locator(".message-body > dl.facts").count() == 1, "the message is no longer shown")
        return lines[1]

    def pagination(self):
        self.go("/messages?limit=2")
        first = self.row_ids()
        expect(len(first) == 2, f"limit=2 gave {len(first)} rows")
        following = self.page.locator('main nav.pager a[rel="next"]')
        expect(following.count() == 1, "no next page link")
        target = following.get_attribute("href")
        expect("after=" in target, f"the next page link has no cursor: {target}")
        following.click()
        self.wait_until("(hash) => location.hash === hash", target, what="the next page")
        self.wait_view()
        second = self.row_ids()
        expect(second and not set(second) & set(first), f"the next page repeats rows: {first} then {second}")
        self.page.locator('main nav.pager a[rel="first"]').click()
        self.wait_until("() => !location.hash.includes('after=')", what="the first page")
        self.wait_view()
        expect(self.row_ids() == first, "the first page link does not give the first page again")
        self.page.go_back()
        self.wait_until("(hash) => location.hash === hash", target, what="Back to the second page")
        self.wait_view()
        expect(self.row_ids() == second, "Back does not return to the second page")
        return f"{first} → {second}"

    def row_ids(self):
        links = self.page.locator("main table tbody tr th a")
        return [links.nth(i).inner_text().strip() for i in range(links.count())]

    def malformed_search(self):
        self.page.goto(f"{self.console}#/messages?since=notadate")
        alert = self.page.wait_for_selector("main [role=alert]", timeout=WAIT_MS)
        text = alert.inner_text()
        expect("since" in text, f"the problem shown does not name the parameter: {text!r}")
        expect(self.page.locator("main h1").count() == 1, "the page lost its heading")
        expect(self.page.locator("#search-submit").count() == 1, "the page lost its search form")
        invalid = self.page.get_attribute('input[name="since"]', "aria-invalid")
        expect(invalid == "true", "the since field is not marked invalid")
        return text.strip().splitlines()[0]

    def dead_letters(self):
        self.go("/dead-letters")
        minor = self.axe("dead letters")
        selector = f'input.dead-select[value="{self.args.dead_id}"]'
        for _ in range(50):
            if self.page.locator(selector).count():
                break
            following = self.page.locator('main nav.pager a[rel="next"]')
            expect(following.count() == 1, f"dead letter {self.args.dead_id} is not listed")
            target = following.get_attribute("href")
            following.click()
            self.wait_until("(hash) => location.hash === hash", target, what="the next page")
            self.wait_view()
        row = self.page.locator(f'tr[data-delivery="{self.args.dead_id}"]')
        self.dead_message = row.locator("a").first.inner_text().strip()
        # "Select all" selects every row of the page, and the button counts them.
        boxes = self.page.locator("input.dead-select")
        self.page.check("#dead-select-all")
        expect(boxes.count() == sum(boxes.nth(i).is_checked() for i in range(boxes.count())), "select all missed rows")
        counted = self.page.inner_text("#dead-replay-selected")
        expect(f"({boxes.count()})" in counted, f"the replay button says {counted!r} for {boxes.count()} rows")
        self.page.uncheck("#dead-select-all")
        self.page.check(selector)
        button = self.page.locator("#dead-replay-selected")
        expect(button.is_enabled(), "the replay button is not enabled after selecting")
        button.click()
        dialog = self.page.wait_for_selector("dialog[open]", timeout=WAIT_MS)
        title = dialog.query_selector("h2").inner_text()
        expect("1" in title and "?" in title, f"the confirmation does not say how many: {title!r}")
        dialog_minor = self.axe("dead letters, confirmation")
        dialog.query_selector("button.button-primary").click()
        self.page.wait_for_selector(f'.replayed-list li[data-id="{self.args.dead_id}"]', timeout=WAIT_MS)
        notes = [part for part in (minor, dialog_minor) if part]
        return f"confirmation {title!r}" + (f"; {'; '.join(notes)}" if notes else "")

    def dead_letter_delivered(self):
        self.go(f"/messages/{urllib.parse.quote(self.dead_message)}")
        delivered = f'section.delivery[data-delivery="{self.args.dead_id}"] .delivery-status [data-status="delivered"]'
        deadline = time.monotonic() + 20
        while True:
            try:
                self.page.wait_for_selector(delivered, timeout=1000)
                return f"message {self.dead_message}"
            except PlaywrightTimeout:
                pass
            expect(time.monotonic() < deadline, f"delivery {self.args.dead_id} not delivered within 20 s")
            self.page.click("#message-refresh")
            self.wait_view()

    def validate(self):
        self.go("/validate")
        self.page.wait_for_selector(
            'select[name="profile"] option[value="canonical"]', state="attached", timeout=WAIT_MS
        )
        self.page.select_option('select[name="profile"]', "canonical")
        text = json.dumps(worker_registered(self.args.sender_source, "console-test-invalid", BAD_CF), indent=2)
        self.page.fill('textarea[name="content"]', text)
        self.page.click("#validate-submit")
        problem = self.page.wait_for_selector(".problems li.problem[data-code]", timeout=WAIT_MS)
        problems = self.page.locator(".problems li.problem")
        codes = [problems.nth(i).get_attribute("data-code") for i in range(problems.count())]
        index = next((i for i, code in enumerate(codes) if code in ("RAC-3101", "cf-checksum")), None)
        expect(index is not None, f"no cf-checksum problem listed, only {codes}")
        problem = problems.nth(index)
        line = problem.get_attribute("data-line")
        expect(line, "the problem is not located on a line")
        expected_line = next(n for n, content in enumerate(text.splitlines(), start=1) if BAD_CF in content)
        expect(int(line) == expected_line, f"the problem is placed on line {line}, not {expected_line}")
        marked = self.page.locator(f"#line-{line}")
        expect("has-problem" in (marked.get_attribute("class") or ""), f"line {line} is not highlighted")
        expect(BAD_CF in marked.inner_text(), f"line {line} does not hold the codice fiscale")
        problem.locator("button.goto-line").click()
        focused = self.page.evaluate("document.activeElement.id")
        expect(focused == f"line-{line}", f"the problem's button focused #{focused}, not line {line}")
        minor = self.axe("validate")
        return f"line {line}" + (f"; {minor}" if minor else "")

    def view(self, route, ready, name):
        self.go(route)
        self.page.wait_for_selector(ready, timeout=WAIT_MS)
        return self.axe(name)

    def not_found(self):
        self.go("/no-such-view")
        expect(self.page.locator("main h1").count() == 1, "an unknown view shows nothing")
        return ""

    def logout(self):
        self.go("/")
        self.page.click("#logout")
        self.page.wait_for_url("**/console/login?logout=1", timeout=WAIT_MS)
        self.page.wait_for_selector("#login-notice", state="visible", timeout=WAIT_MS)
        self.page.goto(self.console)
        self.page.wait_for_url("**/console/login**", timeout=WAIT_MS)
        # In again, for the checks that follow.
        self.page.fill("#token", self.args.token)
        self.page.click("#login-submit")
        self.page.wait_for_selector(".cards", timeout=WAIT_MS)
        return ""

    def session_lost(self):
        self.go("/parties")
        self.context.clear_cookies()
        self.page.evaluate("location.hash = '#/inps'")
        self.page.wait_for_url("**/console/login?expired=1", timeout=WAIT_MS)
        self.page.wait_for_selector("#token", timeout=WAIT_MS)
        expect(self.page.query_selector("main table") is None, "data still shows after the session was lost")
        return ""


# Refusals the tests provoke on purpose (a malformed search, a lost session, a refused
# replay): Chromium logs every 4xx response as a console error, but these are the API's
# answers, which the page shows. Any other console error fails the run.
EXPECTED_REFUSALS = ("status of 400", "status of 401", "status of 409")


def record_console(message, errors):
    if message.type != "error":
        return
    url = (message.location or {}).get("url", "")
    if (
        "/console/api/" in url
        and message.text.startswith("Failed to load resource")
        and any(status in message.text for status in EXPECTED_REFUSALS)
    ):
        return
    errors.append(f"{message.text} ({url})" if url else message.text)


def origin(url):
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the gateway's base URL, e.g. http://127.0.0.1:8470")
    parser.add_argument("--token", "--operator-token", dest="token", required=True, help="a valid operator token")
    parser.add_argument("--sender-token", required=True, help="a party's token, to send the test message")
    parser.add_argument("--sender-source", default="urn:raccordo:cpi:CR01", help="that party's URN (source)")
    parser.add_argument("--dead-id", required=True, help="the id of a delivery that is a dead letter")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--screenshots", help="a folder to save a screenshot of each failing check in")
    args = parser.parse_args()

    checks = Checks(args.screenshots)
    started = time.monotonic()
    requests = []
    console_errors = []
    with tempfile.TemporaryDirectory(prefix="raccordo-console-test-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=args.chromium,
            args=CHROMIUM_ARGS,
            headless=True,
            locale="it-IT",
            viewport={"width": 1280, "height": 900},
        )
        context.on("request", lambda request: requests.append(request.url))
        page = context.pages[0] if context.pages else context.new_page()
        test = ConsoleTest(args, page, context)
        page_errors = test.page_errors
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        page.on("console", lambda message: record_console(message, console_errors))
        checks.page = page

        if not checks.run("a canonical message sent with the sender token (202)", test.send_message):
            print("# the checks that need the test message are left out", flush=True)
        checks.run("no session: /console/ sends the browser to the login page", test.login_required)
        checks.run("login with a bad token shows the error and no data (axe)", test.bad_login)
        logged_in = checks.run("login with a good token opens the console", test.good_login)
        if logged_in:
            checks.run("overview: chart of 60 minutes, refreshed by polling (axe)", test.overview)
            checks.run("language switch: Italian and English labels, remembered", test.language_switch)
            checks.run("the browser's language is the default", test.default_language)
            checks.run("keyboard: the first Tab reaches the skip link, which moves to <main>", test.skip_link_first)
            if test.message_id:
                checks.run("keyboard: Tab to the search button and submit with Enter", test.keyboard_search)
                checks.run("search finds the message sent in the test (axe)", test.search_finds_message)
                checks.run(
                    "the message's timeline, canonical form and deliveries; Back works (axe)", test.message_timeline
                )
                checks.run("search by codice fiscale, kept out of the address bar", test.codice_fiscale_search)
                checks.run("replaying a delivered message is refused with its reason", test.refused_replay)
            checks.run("keyset pagination: next page, first page, Back", test.pagination)
            checks.run("malformed search parameters show the problem, not a blank page", test.malformed_search)
            if checks.run("dead letter replayed after a confirmation naming how many (axe)", test.dead_letters):
                checks.run("the replayed delivery shows delivered (within 20 s)", test.dead_letter_delivered)
            checks.run("validate locates the codice fiscale error on its line (axe)", test.validate)
            checks.run("quarantine view (axe)", test.view, "/quarantine", "main .record, main .empty", "quarantine")
            checks.run("INPS runs view (axe)", test.view, "/inps", "main table, main .empty", "INPS runs")
            checks.run("parties and routes view (axe)", test.view, "/parties", "main table", "parties")
            checks.run("an unknown view says so", test.not_found)
            checks.run("logout ends the session", test.logout)
            checks.run("a lost session (401) sends the browser to the login page", test.session_lost)

        def every_view_scanned():
            views = {
                "login page",
                "overview",
                "messages",
                "message",
                "dead letters",
                "quarantine",
                "INPS runs",
                "parties",
                "validate",
            }
            missing = sorted(views - set(test.scanned))
            expect(not missing, f"not scanned: {', '.join(missing)}")
            return f"{len(test.scanned)} scans"

        checks.run("axe-core scanned every view", every_view_scanned)

        def same_origin():
            allowed = origin(args.base)
            foreign = sorted(
                {url for url in requests if not url.startswith(("data:", "blob:", "about:")) and origin(url) != allowed}
            )
            expect(not foreign, f"requests to other origins: {', '.join(foreign[:5])}")
            return f"{len(requests)} requests"

        def no_errors():
            expect(not page_errors, f"JavaScript errors: {' | '.join(page_errors[:3])}")
            expect(not console_errors, f"console errors: {' | '.join(console_errors[:3])}")
            return ""

        checks.run("no request to another origin", same_origin)
        checks.run("no JavaScript error and no console error", no_errors)
        try:
            context.close()
        except PlaywrightError:
            pass
    print(f"# browser tests took {time.monotonic() - started:.1f}s", flush=True)
    # Last, alone on its line: CI reads this closing line.
    print(f"{checks.passed} passed, {checks.failed} failed", flush=True)
    return 0 if checks.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
