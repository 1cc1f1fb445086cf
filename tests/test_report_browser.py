"""The report opened in headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven
by Selenium): the tree renders with the right number of nodes, clicks and keys select nodes,
a map cell selects its node, the script raises no error, and a screenshot is saved.

Skipped, with the reason, where no Chromium or chromedriver is installed (``make browser``
installs them); ``.ci/run`` installs them and sets ``DENDROGEN_REQUIRE_BROWSER=1``, which turns
the skip into a failure, so in CI the test always runs. ``DENDROGEN_SCREENSHOT=path`` also
copies the screenshot there (how docs/report.png is made).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from dendrogen import HTVAE, TreeVAE

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
REQUIRED = os.environ.get("DENDROGEN_REQUIRE_BROWSER", "") not in ("", "0")


def _unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"DENDROGEN_REQUIRE_BROWSER is set, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install -e '.[dev]')")
    binary = next((p for name in BROWSERS if (p := shutil.which(name))), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        _unavailable("no Chromium and chromedriver on this machine; `make browser` installs "
                     "Debian's chromium and chromium-driver (needs root)")  # fmt: skip
    options = webdriver.ChromeOptions()
    options.binary_location = binary  # the system browser: nothing is downloaded
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1300,1100"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def digits():
    from dendrogen.data import get_dataset

    dataset = get_dataset("digits")
    X, y = dataset.load("train")
    return X[:300], y[:300], list(dataset.classes)


def _open(driver, path: Path) -> None:
    driver.get(path.resolve().as_uri())
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors


def _panel(driver) -> dict[str, str]:
    text = {k: driver.find_element("id", f"panel-{k}").text for k in ("title", "size", "purity")}
    return text


def test_report_in_a_headless_browser(browser, digits, tmp_path):
    X, y, names = digits
    model = TreeVAE(max_leaves=4, max_depth=2, latent_dim=2, width=16, batch_size=32,
                    schedule=dict(initial=30, subtree=15, intermediate=10, finetune=15),
                    random_state=0).fit(X)  # fmt: skip
    path = model.report(X, y, path=tmp_path / "report.html", class_names=names,
                        data_name="digits (train)")  # fmt: skip
    import json

    doc = json.loads(path.with_suffix(".json").read_text())
    nodes = {n["id"]: n for n in doc["nodes"]}
    _open(browser, path)

    drawn = browser.find_elements("css selector", "#tree g.node")
    assert len(drawn) == len(model.tree_) == len(nodes)
    # the root is selected on load
    assert _panel(browser)["title"] == "root"
    assert _panel(browser)["size"] == f"{len(X):,}"

    # click every node: the panel shows that node's size, title and purity
    for element in drawn:
        node = nodes[int(element.get_attribute("data-node"))]
        element.click()
        panel = _panel(browser)
        assert panel["size"] == f"{node['size']:,}", node["title"]
        assert panel["title"] == node["title"]
        if node["purity"] is not None:
            assert panel["purity"] == f"{100 * node['purity']:.1f} %"
        assert "selected" in element.get_attribute("class")

    # the keyboard: from a leaf, ↑ goes to its parent, Home to the root, ↓ to the first child
    leaf = next(n for n in doc["nodes"] if n["kind"] == "leaf")
    browser.find_element("css selector", f'#tree g.node[data-node="{leaf["id"]}"]').click()
    active = browser.switch_to.active_element
    active.send_keys("\ue013")  # ArrowUp
    assert _panel(browser)["title"] == nodes[leaf["parent"]]["title"]
    browser.switch_to.active_element.send_keys("\ue011")  # Home
    assert _panel(browser)["title"] == "root"
    browser.switch_to.active_element.send_keys("\ue015")  # ArrowDown
    first, second = nodes[doc["root"]]["children"][:2]
    assert _panel(browser)["title"] == nodes[first]["title"]
    browser.switch_to.active_element.send_keys("\ue014")  # ArrowRight: the next sibling
    assert _panel(browser)["title"] == nodes[second]["title"]
    browser.switch_to.active_element.send_keys("\ue012")  # ArrowLeft: back
    assert _panel(browser)["title"] == nodes[first]["title"]

    # the member and generation strips of the selected node are shown
    for which in ("members", "generations"):
        src = browser.find_element("id", f"panel-{which}").get_attribute("src")
        assert src.startswith("data:image/png;base64,")

    # a node with a clear majority, for the picture
    nodes_by_size = sorted(doc["nodes"], key=lambda n: -n["size"])
    pick = next(n for n in nodes_by_size if n["kind"] == "leaf")
    browser.find_element("css selector", f'#tree g.node[data-node="{pick["id"]}"]').click()
    browser.set_window_size(1300, 2300)  # tall enough for the metrics, curves and growth
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if os.environ.get("DENDROGEN_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["DENDROGEN_SCREENSHOT"])
    assert not browser.find_elements("id", "missing")  # labelled, fresh model: nothing missing


def test_map_cell_click_selects_its_node_without_labels(browser, digits, tmp_path):
    X = digits[0]
    model = HTVAE(map_sizes=((2, 2), (1, 2)), latent_dim=4, widths=(8, 8), preset="tiny",
                  batch_size=32, random_state=0).fit(X)  # fmt: skip
    path = model.report(X, path=tmp_path / "maps.html")
    _open(browser, path)
    assert len(browser.find_elements("css selector", "#tree g.node")) == len(model.tree_)
    cells = browser.find_elements("css selector", "#maps .cell")
    assert len(cells) == 2 * 2 + 1 * 2
    cell = cells[1]
    node = cell.get_attribute("data-node")
    cell.click()
    tree_node = browser.find_element("css selector", f'#tree g.node[data-node="{node}"]')
    assert "selected" in tree_node.get_attribute("class")
    assert _panel(browser)["title"] == "level 1 code 1"
    assert _panel(browser)["purity"] == "– (no labels)"
    assert "no y was given" in browser.find_element("id", "missing").text
