#!/usr/bin/env python3
"""The page of `disco serve` in headless Chromium, driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: NUL-separated JSON on file descriptors 3 and 4), Python's standard
library only. Opens the page, fills in the form, queues a tiny job, sees its progress and preview
change, finds its image in the gallery, checks that "edit and re-run" fills the form in, and
plays an animation job's video in the gallery.

usage: browser_test.py URL [--screenshots DIR] [--no-video]   (exit 0: passed; 77: no chromium)
--no-video: the server was built without FFmpeg, so animations show frames, not a video.
"""
import base64
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


class Browser:
    def __init__(self, binary, profile):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()
        # The child must see the pipes as its descriptors 3 (commands) and 4 (answers). Copies
        # above 10 first, so that neither dup2 overwrites the other's source; and pass_fds names
        # 3 and 4 themselves, since Popen closes every other descriptor after preexec_fn runs.
        high_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        high_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        def wire():
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)
        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--user-data-dir=" + profile, "--window-size=1280,1000", "--no-first-run", "about:blank"],
            preexec_fn=wire, pass_fds=(3, 4),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in (to_chrome_r, from_chrome_w, high_r, high_w):
            os.close(fd)
        self.buffer = b""
        self.next_id = 0
        self.session = None

    def send(self, method, params=None, session=True):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        while True:
            answer = self.read()
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(method + ": " + json.dumps(answer["error"]))
                return answer.get("result", {})

    def read(self):
        while b"\0" not in self.buffer:
            chunk = os.read(self.from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self.buffer += chunk
        msg, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(msg)

    def open(self, url):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        self.send("Page.enable")
        self.send("Page.navigate", {"url": url})

    def js(self, expression):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError(expression + ": " + json.dumps(r["exceptionDetails"])[:500])
        return r["result"].get("value")

    def wait(self, expression, what, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError("timed out waiting for " + what)

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        self.proc.kill()
        self.proc.wait()


def run(browser, url, shots, video):
    browser.open(url)
    browser.wait("!!document.querySelector('#field-steps')", "the settings form")
    browser.wait("!document.querySelector('#gallery .card') || true", "the first job list")
    assert "[native code]" not in browser.js("document.body.innerText"), "a field shows a function's text"
    if shots:
        browser.js("window.scrollTo(0, 0)")
        browser.screenshot(os.path.join(shots, "serve-empty.png"))
    # Fill in the form as a user would: steps, images, the prompt's text and weight.
    browser.js("""(() => {
      const set = (el, v) => { el.value = v; el.dispatchEvent(new Event('change', {bubbles: true})); };
      set(document.getElementById('field-steps'), '10');
      set(document.getElementById('field-n_batches'), '2');
      const row = document.querySelector('#field-text_prompts .prompt-row');
      set(row.querySelector('.text'), 'a lighthouse seen from a browser');
      set(row.querySelector('.weight'), '2');
      document.getElementById('submit').click();
    })()""")
    seen, previews = set(), set()
    deadline = time.time() + 120
    while (len(seen) < 3 or len(previews) < 2) and time.time() < deadline:
        text = browser.js("(document.getElementById('progress-text') || {}).textContent || ''")
        if "step" in text:
            seen.add(text)
        previews.add(browser.js("(document.getElementById('preview') || {}).src || ''"))
        previews.discard("")
        time.sleep(0.02)
    assert len(seen) >= 3, "the progress text did not change: %r" % seen
    assert len(previews) >= 2, "the preview did not change: %r" % previews
    browser.wait("document.getElementById('preview').complete && document.getElementById('preview').naturalWidth > 0",
                 "the preview to load")
    if shots:
        browser.screenshot(os.path.join(shots, "serve-running.png"))
    browser.wait("document.getElementById('status').textContent.startsWith('0 queued')", "the job to end", 180)
    browser.js("document.querySelector('nav button[data-tab=gallery]').click()")
    browser.wait("document.querySelectorAll('#gallery .card').length >= 2", "two images in the gallery")
    browser.wait("[...document.querySelectorAll('#gallery .card img')].every(i => i.complete && i.naturalWidth > 0)",
                 "the gallery's images")
    # "edit and re-run": the image's own settings back in the form.
    browser.js("document.querySelector('#gallery .card .edit').click()")
    browser.wait("!document.getElementById('tab-make').classList.contains('hidden')", "the form tab")
    browser.wait("document.getElementById('field-steps').value === '10'", "steps in the form")
    prompt = browser.wait("document.querySelector('#field-text_prompts .prompt-row .text').value", "the prompt")
    assert prompt == "a lighthouse seen from a browser", prompt
    weight = browser.js("document.querySelector('#field-text_prompts .prompt-row .weight').value")
    assert float(weight) == 2, weight
    assert browser.js("document.getElementById('field-n_batches').value") == "1", "an image's settings make it alone"
    animation(browser, video)
    if shots:
        browser.js("window.scrollTo(0, 0)")
        browser.screenshot(os.path.join(shots, "serve-gallery.png"))


def animation(browser, video):
    """An animation job: one card in the gallery, its video playing once made (where the server
    was built with FFmpeg), its frames listed under it."""
    browser.js("postJson('/api/jobs', {settings: {animation_mode: '2D', max_frames: 3, steps: 6, zoom: '0:(1.1)', frames_scale: 0}})"
               ".then(refreshJobs)")
    browser.js("document.querySelector('nav button[data-tab=gallery]').click()")
    card = "document.querySelector('#gallery .card.animation')"
    browser.wait("!!" + card + " && %s.querySelectorAll('.frames a').length === 3" % card, "the animation's three frames", 180)
    if not video:
        return
    player = card + ".querySelector('video')"
    browser.wait("!!" + player, "the animation's video")
    browser.wait("%s.readyState >= 2 || !!%s.error" % (player, player), "the video to load")
    error = browser.js("%s.error && %s.error.message" % (player, player))
    assert not error, "chromium cannot play the video: %r" % error
    assert browser.js(player + ".duration") > 0, "the video has no duration"
    browser.wait("%s.currentTime > 0 || !%s.paused" % (player, player), "the video to play")


def main():
    url = sys.argv[1]
    shots = sys.argv[sys.argv.index("--screenshots") + 1] if "--screenshots" in sys.argv else None
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not binary:
        print("no chromium: apt-get install chromium to run the browser test")
        return 77
    profile = tempfile.mkdtemp(prefix="disco_browser_")
    browser = Browser(binary, profile)
    try:
        run(browser, url, shots, "--no-video" not in sys.argv)
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)
    print("browser test: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
