// phonetree dashboard: progressive enhancement only. Every page is complete without this file;
// with it, times show in local time, durations tick, the status page follows live calls and
// the logs page tails the log over server-sent events. Values go into the page as text nodes,
// never as HTML.
(function () {
  "use strict";

  function dur(ms) {
    ms = Math.max(0, ms);
    var s = Math.floor(ms / 1000);
    if (s < 60) return s + "." + Math.floor((ms % 1000) / 100) + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s";
    return Math.floor(s / 3600) + "h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var since = Number(el.getAttribute("data-since"));
      if (since > 0) el.textContent = dur(now - since);
    });
  }

  function localTimes(root) {
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) { el.title = el.textContent; el.textContent = d.toLocaleString(); }
    });
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    if (text instanceof Node) td.appendChild(text); else td.textContent = text == null ? "" : String(text);
    tr.appendChild(td);
    return td;
  }

  function span(text, cls, attrs) {
    var s = document.createElement("span");
    s.textContent = text;
    if (cls) s.className = cls;
    Object.keys(attrs || {}).forEach(function (k) { s.setAttribute(k, attrs[k]); });
    return s;
  }

  function statusPage() {
    if (!window.EventSource) return;
    var calls = document.getElementById("calls");
    var regs = document.getElementById("regs");
    var es = new EventSource("/status/events");
    es.addEventListener("live", function (ev) {
      var d;
      try { d = JSON.parse(ev.data); } catch (e) { return; }
      var rows = document.createDocumentFragment();
      d.calls.forEach(function (c) {
        var tr = document.createElement("tr");
        tr.setAttribute("data-id", c.id);
        cell(tr, c.id);
        var flow = document.createElement("span");
        var a = document.createElement("a");
        a.href = "/flows/" + encodeURIComponent(c.file);
        a.textContent = c.flow;
        flow.appendChild(a);
        flow.appendChild(document.createTextNode(" "));
        var small = document.createElement("small");
        small.textContent = c.version;
        flow.appendChild(small);
        cell(tr, flow);
        cell(tr, c.node);
        cell(tr, c.theme);
        cell(tr, span(dur(d.now_ms - c.since_ms), null, { "data-since": c.since_ms }));
        rows.appendChild(tr);
      });
      calls.replaceChildren(rows);
      document.getElementById("live-count").textContent = d.total;
      document.getElementById("no-calls").hidden = d.total > 0;
      document.getElementById("live-note").textContent =
        d.total > d.calls.length ? "showing " + d.calls.length + " of " + d.total : "";
      if (regs) {
        var rr = document.createDocumentFragment();
        d.regs.forEach(function (r) {
          var tr = document.createElement("tr");
          cell(tr, r.account);
          cell(tr, span(r.state, "state " + r.state));
          cell(tr, r.detail || "");
          cell(tr, r.last_error || "");
          rr.appendChild(tr);
        });
        regs.replaceChildren(rr);
      }
    });
  }

  function logsPage() {
    if (!window.EventSource) return;
    var body = document.getElementById("log-lines");
    var pause = document.getElementById("pause");
    var paused = false;
    pause.hidden = false;
    pause.addEventListener("click", function () {
      paused = !paused;
      pause.setAttribute("aria-pressed", String(paused));
      pause.textContent = paused ? "Resume" : "Pause";
    });
    var level = body.getAttribute("data-level");
    var box = body.closest(".logs-box");
    var es = new EventSource("/logs/events?level=" + encodeURIComponent(level));
    function add(tr) {
      if (paused) return;
      var atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 30;
      body.appendChild(tr);
      while (body.children.length > 1000) body.removeChild(body.firstChild);
      if (atBottom) box.scrollTop = box.scrollHeight;
    }
    es.addEventListener("log", function (ev) {
      var d;
      try { d = JSON.parse(ev.data); } catch (e) { return; }
      var tr = document.createElement("tr");
      var lv = String(d.level || "").toLowerCase();
      tr.className = "lv-" + lv;
      cell(tr, String(d.timestamp || "").replace("T", " ").replace(/\.\d+Z$/, "Z"), "num");
      cell(tr, lv);
      cell(tr, d.message || "");
      var rest = {};
      Object.keys(d).forEach(function (k) {
        if (k !== "timestamp" && k !== "level" && k !== "message") rest[k] = d[k];
      });
      var code = document.createElement("code");
      code.textContent = JSON.stringify(rest);
      cell(tr, code);
      add(tr);
    });
    es.addEventListener("skipped", function (ev) {
      var tr = document.createElement("tr");
      cell(tr, "", "num"); cell(tr, "…"); cell(tr, ev.data + " lines skipped (the page fell behind)"); cell(tr, "");
      add(tr);
    });
  }

  document.addEventListener("submit", function (ev) {
    var msg = ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    localTimes();
    tick();
    setInterval(tick, 1000);
    var page = document.body.getAttribute("data-page");
    if (page === "status") statusPage();
    if (page === "logs") logsPage();
  });
})();
