/// The console's stylesheet and script, written by hand and served from memory (no CDN, no build step).
/// Their total size is checked by a test against the 200 KB budget.
enum ConsoleAssets {
    static let all: [String: (contentType: String, body: String)] = [
        "console.css": ("text/css; charset=utf-8", css),
        "console.js": ("text/javascript; charset=utf-8", javascript),
    ]

    static var totalBytes: Int { all.values.reduce(0) { $0 + $1.body.utf8.count } }

    static let css = #"""
        :root { --fg: #1b1f24; --muted: #57606a; --bg: #ffffff; --line: #d0d7de; --accent: #0b5cad;
          --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --lane1: #0b5cad; --lane2: #8250df; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
        a { color: var(--accent); }
        :focus-visible { outline: 3px solid #f5a623; outline-offset: 2px; }
        .skip { position: absolute; left: -999px; top: 0; background: #fff; padding: .5em 1em; z-index: 10; }
        .skip:focus { left: .5em; }
        header.top { display: flex; flex-wrap: wrap; align-items: center; gap: .5em 1.5em; padding: .6em 1.2em; background: #0d2538; color: #fff; }
        header.top a { color: #fff; text-decoration: none; }
        header.top nav a { margin-right: 1em; }
        header.top nav a[aria-current="page"] { text-decoration: underline; }
        header.top .brand { font-weight: 700; letter-spacing: .02em; }
        header.top .who { margin-left: auto; display: flex; gap: .8em; align-items: center; }
        header.top .who form { margin: 0; }
        main { padding: 1em 1.2em 3em; max-width: 1200px; margin: 0 auto; }
        h1 { font-size: 1.4em; margin: .3em 0 .6em; overflow-wrap: anywhere; }
        h2 { font-size: 1.1em; margin: 1.4em 0 .5em; }
        button, .button { font: inherit; padding: .35em .9em; border: 1px solid var(--line); border-radius: 6px; background: #f6f8fa; color: var(--fg); cursor: pointer; text-decoration: none; display: inline-block; }
        button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
        button.danger { background: var(--bad); color: #fff; border-color: var(--bad); }
        button[aria-pressed="true"] { background: #0d2538; color: #fff; }
        input, select { font: inherit; padding: .3em .45em; border: 1px solid var(--line); border-radius: 6px; max-width: 100%; }
        label { display: block; font-size: .85em; color: var(--muted); }
        .search { display: grid; grid-template-columns: repeat(auto-fill, minmax(11em, 1fr)); gap: .6em 1em; align-items: end; background: #f6f8fa; padding: .8em; border-radius: 8px; border: 1px solid var(--line); }
        .search input { width: 100%; }
        .search .checks input { width: auto; }
        td code { white-space: pre-wrap; overflow-wrap: anywhere; font-size: .82em; }
        .kv { display: grid; grid-template-columns: max-content 1fr; gap: 0 .6em; margin: 0; font-size: .82em; }
        .kv dt { color: var(--muted); }
        .kv dd { margin: 0; overflow-wrap: anywhere; }
        table.audit td.call { font-size: .85em; max-width: 11em; overflow-wrap: anywhere; }
        table.audit td.detail { width: 50%; min-width: 18em; }
        td.num { white-space: nowrap; }
        .search .checks { display: flex; flex-wrap: wrap; gap: .3em 1em; grid-column: 1 / -1; }
        .search .checks label { display: inline-flex; gap: .3em; align-items: center; color: var(--fg); font-size: .95em; }
        .search .actions { display: flex; gap: .5em; }
        table { border-collapse: collapse; width: 100%; margin-top: .8em; }
        th, td { text-align: left; padding: .4em .5em; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { font-size: .85em; color: var(--muted); font-weight: 600; }
        td.num { font-variant-numeric: tabular-nums; }
        .table-wrap { overflow-x: auto; }
        .badge { display: inline-block; padding: 0 .45em; border-radius: 1em; font-size: .82em; border: 1px solid var(--line); white-space: nowrap; }
        .badge.ok { color: var(--ok); border-color: var(--ok); }
        .badge.warn { color: var(--warn); border-color: var(--warn); }
        .badge.bad { color: var(--bad); border-color: var(--bad); }
        .badge.hold { color: #fff; background: var(--bad); border-color: var(--bad); }
        .pager { display: flex; gap: 1em; margin-top: 1em; align-items: center; }
        .notice { padding: .6em .9em; border-radius: 6px; background: #fff8c5; border: 1px solid #d4a72c; margin: .6em 0; }
        .notice.error { background: #ffebe9; border-color: var(--bad); }
        .notice.ok { background: #dafbe1; border-color: var(--ok); }
        .signin { max-width: 22em; margin: 3em auto; padding: 1.5em; border: 1px solid var(--line); border-radius: 10px; }
        .signin input { width: 100%; margin-bottom: .8em; }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; }
        dl.facts dt { color: var(--muted); }
        dl.facts dd { margin: 0; overflow-wrap: anywhere; }
        .media { border: 1px solid var(--line); border-radius: 8px; padding: .8em; margin: .8em 0; }
        .media code { overflow-wrap: anywhere; font-size: .85em; }
        .lane { display: grid; grid-template-columns: 4.5em 1fr; align-items: center; gap: .5em; margin: .3em 0; }
        .lane canvas { width: 100%; height: 56px; background: #f6f8fa; border-radius: 4px; cursor: pointer; }
        .lane .name { font-size: .85em; font-weight: 600; }
        .lane.l1 .name { color: var(--lane1); } .lane.l2 .name { color: var(--lane2); }
        .controls { display: flex; flex-wrap: wrap; gap: .4em; align-items: center; margin-top: .4em; }
        audio { width: 100%; margin-top: .4em; }
        .row-actions { display: flex; flex-wrap: wrap; gap: .6em; align-items: end; }
        .row-actions form { display: flex; gap: .4em; align-items: end; flex-wrap: wrap; }
        .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
        .chain-ok { color: var(--ok); font-weight: 600; } .chain-bad { color: var(--bad); font-weight: 600; }
        @media (max-width: 700px) {
          main { padding: .6em .6em 2em; }
          .search { grid-template-columns: 1fr 1fr; gap: .4em .6em; padding: .6em; }
          .search .wide { grid-column: 1 / -1; }
          table.calls thead { display: none; }
          table.calls, table.calls tbody, table.calls tr, table.calls td { display: block; width: 100%; }
          table.calls tr { border: 1px solid var(--line); border-radius: 8px; margin-bottom: .6em; padding: .3em .5em; }
          table.calls td { border: 0; padding: .15em 0; }
          table.calls td::before { content: attr(data-label) ": "; color: var(--muted); font-size: .85em; }
          header.top .who { margin-left: 0; }
        }
        """#

    static let javascript = #"""
        "use strict";
        (function () {
          function drawLane(canvas, peaks, color, progress, top) {
            var dpr = window.devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
            canvas.width = Math.max(1, Math.floor(w * dpr)); canvas.height = Math.max(1, Math.floor(h * dpr));
            var g = canvas.getContext("2d"); g.scale(dpr, dpr); g.clearRect(0, 0, w, h);
            var n = peaks.length, mid = h / 2;
            var scale = top > 0 ? Math.min(1 / top, 8) : 1;
            for (var i = 0; i < n; i++) {
              var x = i * w / n, a = Math.min(1, peaks[i] * scale) * (mid - 2);
              g.fillStyle = (i / n) <= progress ? color : color + "66";
              g.fillRect(x, mid - a, Math.max(1, w / n - 0.5), Math.max(1, 2 * a));
            }
          }
          function setupPlayer(box) {
            var audio = box.querySelector("audio"), lanes = box.querySelectorAll(".lane canvas");
            var status = box.querySelector("[role=status]"), peaks = null, graph = null;
            var colors = [getComputedStyle(document.documentElement).getPropertyValue("--lane1").trim() || "#0b5cad",
                          getComputedStyle(document.documentElement).getPropertyValue("--lane2").trim() || "#8250df"];
            function redraw() {
              if (!peaks) return;
              var p = audio.duration ? audio.currentTime / audio.duration : 0;
              // One scale for both lanes (the louder leg fills its lane), so the legs' levels compare.
              var top = 0;
              peaks.channels.forEach(function (ch) { ch.forEach(function (v) { if (v > top) top = v; }); });
              lanes.forEach(function (c, i) { if (peaks.channels[i]) drawLane(c, peaks.channels[i], colors[i], p, top); });
            }
            if (lanes.length && box.dataset.peaks) {
              fetch(box.dataset.peaks, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; })
                .then(function (j) { if (j && j.channels) { peaks = j; redraw(); } }).catch(function () {});
            }
            lanes.forEach(function (c) {
              c.addEventListener("click", function (e) {
                if (!audio.duration) return;
                var r = c.getBoundingClientRect(); audio.currentTime = audio.duration * (e.clientX - r.left) / r.width;
              });
            });
            audio.addEventListener("timeupdate", redraw);
            window.addEventListener("resize", redraw);
            function ensureGraph() {
              if (graph || !window.AudioContext) return graph;
              var ctx = new AudioContext(), src = ctx.createMediaElementSource(audio);
              var split = ctx.createChannelSplitter(2), merge = ctx.createChannelMerger(2);
              var gains = [ctx.createGain(), ctx.createGain()];
              src.connect(split);
              gains.forEach(function (gain, i) { split.connect(gain, i); gain.connect(merge, 0, 0); gain.connect(merge, 0, 1); });
              merge.connect(ctx.destination);
              graph = { ctx: ctx, gains: gains };
              return graph;
            }
            box.querySelectorAll("button[data-solo]").forEach(function (b) {
              b.addEventListener("click", function () {
                var which = b.dataset.solo, gr = ensureGraph();
                if (gr) {
                  gr.ctx.resume();
                  gr.gains[0].gain.value = (which === "both" || which === "1") ? 1 : 0;
                  gr.gains[1].gain.value = (which === "both" || which === "2") ? 1 : 0;
                }
                box.querySelectorAll("button[data-solo]").forEach(function (o) { o.setAttribute("aria-pressed", o === b ? "true" : "false"); });
                box.dataset.solo = which;
                if (status) status.textContent = which === "both" ? "Playing both legs" : "Playing leg " + which + " only";
                audio.play();
              });
            });
            var live = box.querySelector("button[data-live]");
            if (live) live.addEventListener("click", function () {
              var t = audio.currentTime; audio.src = box.dataset.src + (box.dataset.src.indexOf("?") < 0 ? "?" : "&") + "t=" + Date.now();
              audio.addEventListener("loadedmetadata", function once() { audio.removeEventListener("loadedmetadata", once); try { audio.currentTime = t; } catch (e) {} audio.play(); });
            });
          }
          document.querySelectorAll(".player").forEach(setupPlayer);
          var all = document.getElementById("select-all");
          if (all) all.addEventListener("change", function () {
            document.querySelectorAll("input[name=call_sid]").forEach(function (c) { c.checked = all.checked; });
          });
        })();
        """#
}
