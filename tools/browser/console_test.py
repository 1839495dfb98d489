#!/usr/bin/env python3
"""Drives the exorec compliance console in a real headless Chromium (Debian's chromium and
chromium-driver, Selenium from PyPI pointed at /usr/bin/chromedriver: nothing is downloaded).

Started by the Swift suite ConsoleBrowserTests, which runs the simulator and `exorec serve` with a few
calls. Prints one line per check; exits 0 when every check passed, 1 at the first failure (with the
page's text), 2 when the browser cannot start.

    console_test.py --url http://127.0.0.1:PORT --users users.json --dual-call CA... \
        --dual-duration 3.0 --number "+91 99000 00021" --screenshots .build/console-screenshots
"""
import argparse
import json
import os
import sys
import tarfile
import tempfile
import time

os.environ.setdefault("SE_OFFLINE", "true")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

DEADLINE = 60  # seconds for anything the page does on its own (generous: a loaded 2-core machine)


class Failure(Exception):
    pass


def check(condition, what, driver=None):
    if not condition:
        page = ""
        if driver is not None:
            try:
                page = driver.find_element(By.TAG_NAME, "body").text[:1500]
            except Exception:  # noqa: BLE001
                pass
        raise Failure(f"{what}\n--- page ---\n{page}")
    print(f"ok: {what}", flush=True)


def wait_for(predicate, what, driver, timeout=DEADLINE):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if predicate():
                print(f"ok: {what}", flush=True)
                return
        except Exception:  # noqa: BLE001 - the page may be between states
            pass
        time.sleep(0.1)
    check(False, what, driver)


def start_browser(downloads):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                     "--autoplay-policy=no-user-gesture-required", "--mute-audio", "--disable-gpu"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {
        "download.default_directory": downloads,
        "download.prompt_for_download": False,
        "safebrowsing.enabled": False,
    })
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def sign_in(driver, base, name, password):
    driver.delete_all_cookies()
    driver.get(base + "/console/sign-in")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form.signin button[type=submit]").click()
    wait_for(lambda: driver.current_url.endswith("/console/calls"), f"{name} is signed in", driver)


def nav_text(driver):
    return " ".join(a.text for a in driver.find_elements(By.CSS_SELECTOR, "header nav a"))


def shot(driver, folder, name):
    path = os.path.join(folder, name + ".png")
    driver.save_screenshot(path)
    print(f"screenshot: {path}", flush=True)


def downloaded_tar(folder, before):
    def done():
        names = set(os.listdir(folder)) - before
        tars = [n for n in names if n.endswith(".tar")]
        partial = [n for n in names if n.endswith(".crdownload")]
        return tars[0] if tars and not partial else None
    end = time.monotonic() + DEADLINE * 2
    while time.monotonic() < end:
        name = done()
        if name:
            return os.path.join(folder, name)
        time.sleep(0.2)
    return None


def play_leg(driver, leg, expected_duration):
    box = driver.find_element(By.CSS_SELECTOR, ".player[data-channels='2']")
    audio = box.find_element(By.TAG_NAME, "audio")
    start = driver.execute_script("return arguments[0].currentTime", audio)
    box.find_element(By.CSS_SELECTOR, f"button[data-solo='{leg}']").click()
    wait_for(lambda: box.find_element(By.CSS_SELECTOR, f"button[data-solo='{leg}']").get_attribute("aria-pressed") == "true",
             f"leg {leg} is soloed (aria-pressed)", driver)
    wait_for(lambda: driver.execute_script("return arguments[0].currentTime", audio) > start + 0.3,
             f"leg {leg} plays: the audio element's time advances", driver)
    duration = driver.execute_script("return arguments[0].duration", audio)
    check(abs(duration - expected_duration) < 0.25,
          f"the player's duration {duration:.2f} s matches the file's {expected_duration:.2f} s", driver)
    driver.execute_script("arguments[0].pause()", audio)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--users", required=True, help="JSON file: {role: [name, password]}")
    parser.add_argument("--dual-call", required=True)
    parser.add_argument("--dual-duration", type=float, required=True)
    parser.add_argument("--number", required=True, help="a number of the dual call, typed with spaces")
    parser.add_argument("--screenshots", required=True)
    args = parser.parse_args()
    with open(args.users) as f:
        users = json.load(f)
    os.makedirs(args.screenshots, exist_ok=True)
    downloads = tempfile.mkdtemp(prefix="exorec-console-downloads-")
    base = args.url.rstrip("/")
    try:
        driver = start_browser(downloads)
    except Exception as error:  # noqa: BLE001
        print(f"cannot start Chromium: {error}", file=sys.stderr)
        return 2
    try:
        # The sign-in page.
        driver.get(base + "/console/calls")
        wait_for(lambda: "/console/sign-in" in driver.current_url, "an anonymous visit lands on the sign-in page", driver)
        shot(driver, args.screenshots, "1-sign-in")

        # Viewer: search and listen only.
        name, password = users["viewer"]
        sign_in(driver, base, name, password)
        check("Audit log" not in nav_text(driver), "a viewer's menu has no audit log", driver)
        check(not driver.find_elements(By.XPATH, "//button[contains(., 'Export')]"), "a viewer sees no export button", driver)
        number = driver.find_element(By.ID, "q-number")
        number.send_keys(args.number)
        driver.find_element(By.CSS_SELECTOR, "form.search button[type=submit]").click()
        wait_for(lambda: args.dual_call in driver.page_source and "number=" in driver.current_url,
                 f"searching for '{args.number}' (typed with spaces) finds the call", driver)
        rows = driver.find_elements(By.CSS_SELECTOR, "table.calls tbody tr")
        digits = "".join(c for c in args.number if c.isdigit())[-10:]
        check(len(rows) >= 1 and all(digits in r.text for r in rows),
              f"every listed call has the number ...{digits} ({len(rows)} rows)", driver)
        driver.get(base + "/console/calls")
        shot(driver, args.screenshots, "2-call-list")
        driver.get(base + "/console/audit")
        check("Not allowed" in driver.find_element(By.TAG_NAME, "h1").text,
              "a viewer typing the audit log's URL is refused (403 page)", driver)
        driver.get(base + f"/console/calls/{args.dual_call}")
        check(not driver.find_elements(By.XPATH, "//button[contains(., 'Place hold')]"), "a viewer sees no hold button", driver)
        check(not driver.find_elements(By.XPATH, "//button[contains(., 'Verify')]"), "a viewer sees no verify button", driver)
        play_leg(driver, "1", args.dual_duration)

        # Admin: two lanes, solo each leg, hold and release.
        name, password = users["admin"]
        sign_in(driver, base, name, password)
        driver.get(base + f"/console/calls/{args.dual_call}")
        lanes = driver.find_elements(By.CSS_SELECTOR, ".player[data-channels='2'] .lane canvas")
        check(len(lanes) == 2, "the dual stream shows two lanes (leg 1, leg 2)", driver)
        drawn = "var c=arguments[0],g=c.getContext('2d'),d=g.getImageData(0,0,c.width,c.height).data;" \
                "for(var i=3;i<d.length;i+=4){if(d[i]>0)return true}return false"
        wait_for(lambda: all(driver.execute_script(drawn, lane) for lane in lanes), "both lanes have a waveform drawn", driver)
        check(all(lane.get_attribute("aria-label") for lane in lanes), "the lanes are labelled for screen readers", driver)
        check(driver.find_element(By.CSS_SELECTOR, "audio").get_attribute("aria-label"), "the player is labelled", driver)
        shot(driver, args.screenshots, "3-call-two-lanes")
        play_leg(driver, "1", args.dual_duration)
        play_leg(driver, "2", args.dual_duration)

        driver.find_element(By.ID, "hold-reason").send_keys("browser test subpoena")
        driver.find_element(By.XPATH, "//button[contains(., 'Place hold')]").click()
        wait_for(lambda: "browser test subpoena" in driver.page_source and driver.find_elements(By.ID, "release-reason"),
                 "a hold is placed, with its reason", driver)
        driver.find_element(By.ID, "release-reason").send_keys("case closed")
        driver.find_element(By.XPATH, "//button[contains(., 'Release hold')]").click()
        wait_for(lambda: "not held" in driver.page_source, "the hold is released", driver)

        # A POST without the CSRF token, from the signed-in page itself, is refused.
        status = driver.execute_script(
            "return fetch('/console/calls/' + arguments[0] + '/hold', {method: 'POST', credentials: 'same-origin',"
            " headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'reason=no+token'})"
            ".then(function (r) { return r.status; })", args.dual_call)
        check(status == 403, f"a POST without the CSRF token is refused ({status})", driver)
        driver.get(base + f"/console/calls/{args.dual_call}")
        check("not held" in driver.page_source, "the CSRF-less POST placed no hold", driver)

        # Auditor: audit log, export a bag.
        name, password = users["auditor"]
        sign_in(driver, base, name, password)
        check("Audit log" in nav_text(driver), "an auditor's menu has the audit log", driver)
        check(not driver.find_elements(By.ID, "hold-reason"), "an auditor cannot hold", driver)
        driver.get(base + f"/console/calls/{args.dual_call}")
        before = set(os.listdir(downloads))
        driver.find_element(By.XPATH, "//button[contains(., 'Export as a bag')]").click()
        tar = downloaded_tar(downloads, before)
        check(tar is not None, "the bag downloads as a .tar", driver)
        unpacked = tempfile.mkdtemp(prefix="exorec-console-bag-")
        with tarfile.open(tar) as archive:
            archive.extractall(unpacked, filter="data")
        folders = os.listdir(unpacked)
        check(len(folders) == 1, f"the tar holds one bag folder ({folders})")
        import bagit
        bag = bagit.Bag(os.path.join(unpacked, folders[0]))
        bag.validate()
        check(any(args.dual_call in p for p in bag.payload_files()), "the bag validates with bagit and holds the call's files")

        driver.get(base + "/console/audit")
        wait_for(lambda: "intact" in driver.page_source, "the audit log shows its chain intact", driver)
        text = driver.find_element(By.TAG_NAME, "main").text
        for actor, action in [(users["viewer"][0], "console.play"), (users["admin"][0], "hold.added"),
                              (users["admin"][0], "hold.released"), (users["auditor"][0], "console.export"),
                              (users["viewer"][0], "console.sign_in")]:
            check(f"console:{actor}" in text and action in text, f"the audit log names console:{actor} for {action}", driver)
        shot(driver, args.screenshots, "4-audit-log")

        # Phone width.
        driver.set_window_size(390, 844)
        driver.get(base + "/console/calls")
        width = driver.execute_script("return document.documentElement.scrollWidth")
        check(width <= 400, f"the call list fits a phone's width (scrollWidth {width})", driver)
        shot(driver, args.screenshots, "5-call-list-phone")
        driver.get(base + f"/console/calls/{args.dual_call}")
        width = driver.execute_script("return document.documentElement.scrollWidth")
        check(width <= 400, f"a call's page fits a phone's width (scrollWidth {width})", driver)
        shot(driver, args.screenshots, "6-call-phone")
        print("all console browser checks passed", flush=True)
        return 0
    except Failure as failure:
        print(f"FAILED: {failure}", file=sys.stderr, flush=True)
        try:
            shot(driver, args.screenshots, "failure")
        except Exception:  # noqa: BLE001
            pass
        return 1
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
