"""The web console in headless Chromium (Debian's `chromium` and `chromium-driver`, driven by
Selenium) against a real `tandem serve`: a wrong key is refused with a message; signing in with a
key, uploading a document, asking about it and seeing the streamed answer with its route badge and
a citation whose passage opens; the answer counted on the dashboard; the interface in Chinese and
on a narrow screen. Screenshots go to test-artifacts/web/*.png ($TANDEM_TEST_ARTIFACTS overrides
test-artifacts/).
"""

import os
import re
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from tandem_server import running_llama_server, running_server

CHROMIUM = Path(os.environ.get("TANDEM_TEST_CHROMIUM") or "/usr/bin/chromium")
CHROMEDRIVER = Path(os.environ.get("TANDEM_TEST_CHROMEDRIVER") or "/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("TANDEM_TEST_ARTIFACTS") or Path(__file__).resolve().parents[2] / "test-artifacts") / "web"
ANSWER_TIMEOUT_S = 240  # the local model on a shared CPU
LEASE = "# Lease\n\nThe lease of the flat at 12 Elm Street ends on 31 March 2027.\n\nThe rent is 950 euros a month.\n"


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), (
        f"no {CHROMIUM} or {CHROMEDRIVER}: install chromium and chromium-driver (scripts/setup.sh does)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1100", "--lang=en-US"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, timeout=30):
    return WebDriverWait(driver, timeout)


def _shot(driver, name):
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def _open(driver, server):
    """The page as a new visitor sees it: no key in the tab, no language chosen."""
    driver.get(f"http://127.0.0.1:{server['port']}/")
    driver.execute_script("sessionStorage.clear(); localStorage.clear();")
    driver.refresh()
    _wait(driver).until(ec.visibility_of_element_located((By.ID, "api-key")))


def _sign_in(driver, key):
    field = driver.find_element(By.ID, "api-key")
    field.clear()
    field.send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()


def _tab(driver, view):
    driver.find_element(By.CSS_SELECTOR, f'#tabs button[data-view="{view}"]').click()
    _wait(driver).until(ec.visibility_of_element_located((By.ID, f"view-{view}")))


def _ask(driver, question, max_tokens, model="tandem/auto", knowledge="auto", collections=""):
    """Sends a question from the chat form with its options set."""
    driver.find_element(By.CSS_SELECTOR, "#chat-form details summary").click()
    Select(driver.find_element(By.ID, "chat-model")).select_by_value(model)
    Select(driver.find_element(By.ID, "chat-knowledge")).select_by_value(knowledge)
    driver.find_element(By.ID, "chat-collections").send_keys(collections)
    tokens = driver.find_element(By.ID, "chat-max-tokens")
    tokens.clear()
    tokens.send_keys(str(max_tokens))
    driver.find_element(By.ID, "prompt").send_keys(question)
    driver.find_element(By.ID, "chat-send").click()


def test_a_wrong_key_is_refused_with_a_message(browser, server):
    _open(browser, server)
    _sign_in(browser, "tdm_000000000000_not-a-real-key")
    _wait(browser).until(lambda d: d.find_element(By.ID, "login-error").text)
    message = browser.find_element(By.ID, "login-error").text
    assert "rejected" in message
    assert browser.find_element(By.ID, "view-login").is_displayed()
    assert not browser.find_element(By.ID, "tabs").is_displayed()
    assert browser.execute_script("return sessionStorage.getItem('tandem.apiKey')") is None
    _shot(browser, "01-wrong-key")


def test_upload_ask_cite_and_count(browser, server, tmp_path):
    _open(browser, server)
    _sign_in(browser, server["key"])
    _wait(browser).until(ec.visibility_of_element_located((By.ID, "view-chat")))
    # The key lives in this tab's sessionStorage, never in the address.
    assert browser.execute_script("return sessionStorage.getItem('tandem.apiKey')") == server["key"]
    assert server["key"] not in browser.current_url
    assert browser.find_element(By.CSS_SELECTOR, '#tabs button[data-view="keys"]').is_displayed()  # an admin key

    # Knowledge base: upload with progress, then the document is listed.
    _tab(browser, "kb")
    lease = tmp_path / "lease.md"
    lease.write_text(LEASE)
    collection = browser.find_element(By.ID, "upload-collection")
    collection.clear()
    collection.send_keys("web")
    browser.find_element(By.ID, "upload-files").send_keys(str(lease))
    browser.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]").click()
    _wait(browser, 120).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#upload-progress .status.ok"))
    assert browser.find_element(By.CSS_SELECTOR, "#upload-progress progress").get_attribute("value") == "1"
    _wait(browser).until(lambda d: "lease" in d.find_element(By.ID, "documents").text.lower())
    _shot(browser, "02-knowledge-base")

    # Chat: a grounded, streamed answer with its route badge and a citation.
    _tab(browser, "chat")
    _ask(browser, "When does the lease end?", max_tokens=32, knowledge="always", collections="web")
    citation = _wait(browser, ANSWER_TIMEOUT_S).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, ".message.assistant .meta button.citation")))
    answer = browser.find_element(By.CSS_SELECTOR, ".message.assistant")
    assert answer.find_element(By.CSS_SELECTOR, ".body").text.strip()
    badge = answer.find_element(By.CSS_SELECTOR, ".meta .badge")
    assert badge.get_attribute("data-route") == "knowledge"
    assert badge.text == "knowledge base"
    assert "Wh" in answer.find_element(By.CSS_SELECTOR, ".meta .usage").text
    assert "nothing left this device" in answer.find_element(By.CSS_SELECTOR, ".meta .privacy").text
    assert "null" not in answer.find_element(By.CSS_SELECTOR, ".meta").text
    assert "Lease" in citation.text  # the title of lease.md
    _shot(browser, "03-chat-answer")
    citation.click()
    dialog = _wait(browser).until(ec.visibility_of_element_located((By.ID, "passage")))
    assert "31 March 2027" in dialog.find_element(By.ID, "passage-text").text
    _shot(browser, "04-citation-passage")
    dialog.find_element(By.ID, "passage-close").click()
    _wait(browser).until(ec.invisibility_of_element_located((By.ID, "passage")))

    # Dashboard: the answer is counted, by route, with the charts drawn.
    _tab(browser, "dashboard")
    _wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#summary .stat"))
    answers = browser.find_element(By.CSS_SELECTOR, "#summary .stat .value").text
    assert int(answers) >= 1
    rows = {row.find_element(By.TAG_NAME, "th").text: row.find_elements(By.TAG_NAME, "td")[0].text
            for row in browser.find_elements(By.CSS_SELECTOR, "#usage-table tbody tr")}
    assert int(rows["knowledge base"]) >= 1
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-routes svg rect.series-1")
    _shot(browser, "05-dashboard")


def test_chinese_and_a_narrow_screen(browser, server):
    _open(browser, server)
    _sign_in(browser, server["key"])
    _wait(browser).until(ec.visibility_of_element_located((By.ID, "view-chat")))
    Select(browser.find_element(By.ID, "language")).select_by_value("zh")
    assert browser.find_element(By.CSS_SELECTOR, '#tabs button[data-view="chat"]').text == "对话"
    assert browser.find_element(By.ID, "chat-send").text == "发送"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    _tab(browser, "dashboard")
    _wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#summary .stat"))
    assert "回答数" in browser.find_element(By.ID, "summary").text
    _shot(browser, "06-dashboard-zh")
    browser.set_window_size(390, 900)
    _tab(browser, "chat")
    # One column: nothing wider than the screen.
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    _shot(browser, "07-narrow-zh")
    Select(browser.find_element(By.ID, "language")).select_by_value("en")
    browser.set_window_size(1280, 1100)


def _module_call(driver, module, expression):
    """Imports /assets/<module> in the page (as the page's own scripts are, under its CSP) and
    returns `expression` evaluated with the module as `m`."""
    return driver.execute_async_script(
        f"const done = arguments[arguments.length - 1];"
        f"import('/assets/{module}').then((m) => done({expression}), (e) => done('failed: ' + e));")


def test_model_text_never_becomes_markup(browser, server):
    _open(browser, server)
    rendered = _module_call(browser, "markdown.js", "m.renderMarkdown("
                            "'**Yes** <img src=x onerror=alert(1)> [1] [2] [a](javascript:alert(1)) `<b>`', new Set([1]))")
    assert "<img" not in rendered and "&lt;img src=x onerror=alert(1)&gt;" in rendered
    assert "<strong>Yes</strong>" in rendered
    assert '<button type="button" class="cite" data-cite="1">[1]</button>' in rendered
    assert "[2]" in rendered and 'data-cite="2"' not in rendered  # not one of the answer's citations
    assert 'href="javascript' not in rendered
    assert "<code>&lt;b&gt;</code>" in rendered


def test_both_languages_have_every_text(browser, server):
    _open(browser, server)
    missing = _module_call(browser, "i18n.js",
                           "Object.keys(m.DICTIONARIES.en).filter((k) => !(k in m.DICTIONARIES.zh))"
                           ".concat(Object.keys(m.DICTIONARIES.zh).filter((k) => !(k in m.DICTIONARIES.en)))")
    assert missing == []
    # Every text the page names exists in the dictionaries.
    named = browser.execute_script(
        "return [...document.querySelectorAll('[data-i18n]')].map((e) => e.dataset.i18n)"
        ".concat([...document.querySelectorAll('[data-i18n-label]')].map((e) => e.dataset.i18nLabel))")
    known = _module_call(browser, "i18n.js", "Object.keys(m.DICTIONARIES.en)")
    assert sorted(set(named) - set(known)) == []
    # And so does every text the scripts ask for by name.
    scripts = "".join(p.read_text() for p in (Path(__file__).resolve().parents[2] / "web" / "assets").glob("*.js"))
    asked = set(re.findall(r"\bt\('([a-z0-9_]+\.[a-z0-9_]+)'", scripts))
    assert len(asked) > 50
    assert sorted(asked - set(known)) == []


def test_an_upload_over_the_limit_is_a_message(browser, tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("small"), settings=["server.max_body_bytes=4096"]) as small:
        _open(browser, small)
        _sign_in(browser, small["key"])
        _wait(browser).until(ec.visibility_of_element_located((By.ID, "view-chat")))
        _tab(browser, "kb")
        big = tmp_path_factory.mktemp("big") / "big.txt"
        big.write_text("All work and no play. " * 2000)
        browser.find_element(By.ID, "upload-files").send_keys(str(big))
        browser.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]").click()
        _wait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#upload-progress .status.error"))
        notice = _wait(browser).until(ec.visibility_of_element_located((By.ID, "notice")))
        assert "too large" in notice.text
        _shot(browser, "08-upload-too-large")
    # The server is gone now: the page says so instead of going blank.
    _tab(browser, "dashboard")
    _wait(browser).until(lambda d: "cannot be reached" in d.find_element(By.ID, "notice").text)
    assert browser.find_element(By.ID, "view-dashboard").is_displayed()
    _shot(browser, "09-server-down")


def test_an_admin_creates_and_revokes_a_key_that_works_from_the_keyboard(browser, server):
    _open(browser, server)
    _sign_in(browser, server["key"])
    _wait(browser).until(ec.visibility_of_element_located((By.ID, "view-chat")))
    _tab(browser, "keys")
    browser.find_element(By.ID, "key-tenant").send_keys("guest")
    Select(browser.find_element(By.ID, "key-scope")).select_by_value("user")
    browser.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
    shown = _wait(browser).until(ec.visibility_of_element_located((By.ID, "new-key-value")))
    guest_key = shown.text
    assert guest_key.startswith("tdm_")
    _wait(browser).until(lambda d: "guest: 1" in d.find_element(By.ID, "tenants").text)
    assert "the key you signed in with" in browser.find_element(By.ID, "keys-table").text
    _shot(browser, "10-keys")
    _tab(browser, "chat")
    _tab(browser, "keys")
    assert not browser.find_element(By.ID, "new-key").is_displayed()  # shown once, not kept on the page

    # The new key signs in with the keyboard alone: the key field has the focus, Enter submits.
    browser.find_element(By.ID, "logout").click()
    _wait(browser).until(ec.visibility_of_element_located((By.ID, "api-key")))
    assert browser.switch_to.active_element.get_attribute("id") == "api-key"
    browser.switch_to.active_element.send_keys(guest_key + "\n")
    _wait(browser).until(ec.visibility_of_element_located((By.ID, "view-chat")))
    assert browser.switch_to.active_element.get_attribute("id") == "prompt"
    assert not browser.find_element(By.CSS_SELECTOR, '#tabs button[data-view="keys"]').is_displayed()  # a user key
    _tab(browser, "dashboard")
    _wait(browser).until(lambda d: "tenant guest" in d.find_element(By.ID, "summary").text)

    # Revoked by the admin, it is refused at once.
    browser.find_element(By.ID, "logout").click()
    _sign_in(browser, server["key"])
    _wait(browser).until(ec.visibility_of_element_located((By.ID, "view-chat")))
    _tab(browser, "keys")
    guest_id = guest_key.split("_")[1]
    revoke = _wait(browser).until(ec.element_to_be_clickable(
        (By.CSS_SELECTOR, f'#keys-table button[aria-label="Revoke key {guest_id}"]')))
    revoke.click()
    browser.switch_to.alert.accept()
    _wait(browser).until(lambda d: "revoked" in d.find_element(By.ID, "keys-table").text)
    browser.find_element(By.ID, "logout").click()
    _sign_in(browser, guest_key)
    _wait(browser).until(lambda d: "rejected" in d.find_element(By.ID, "login-error").text)


def test_a_cloud_answer_says_what_was_pseudonymized(browser, tmp_path_factory):
    work = tmp_path_factory.mktemp("cloud")
    with running_llama_server(work) as cloud_url, running_server(
            work, settings=[f"cloud.base_url={cloud_url}", "cloud.model=big", "cloud.api_key_env=TANDEM_TEST_CLOUD_KEY",
                            "cloud.input_usd_per_mtok=2.5", "cloud.output_usd_per_mtok=10"],
            env={"TANDEM_TEST_CLOUD_KEY": "sk-test"}) as routed:
        _open(browser, routed)
        _sign_in(browser, routed["key"])
        _wait(browser).until(ec.visibility_of_element_located((By.ID, "view-chat")))
        _ask(browser, "Write one line to anna.schmidt@example.com about lunch.", max_tokens=16, model="tandem/cloud")
        usage = _wait(browser, ANSWER_TIMEOUT_S).until(
            ec.visibility_of_element_located((By.CSS_SELECTOR, ".message.assistant .meta .usage")))
        meta = browser.find_element(By.CSS_SELECTOR, ".message.assistant .meta")
        assert meta.find_element(By.CSS_SELECTOR, ".badge").get_attribute("data-route") == "cloud"
        privacy = meta.find_element(By.CSS_SELECTOR, ".privacy").text
        assert "sent to the cloud" in privacy and "email × 1" in privacy
        assert "USD" in usage.text and "estimate" in usage.text
        _shot(browser, "11-cloud-pseudonymized")
