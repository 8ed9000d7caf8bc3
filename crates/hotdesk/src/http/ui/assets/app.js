// The dashboard's live part. Without it every page still works; with it the table follows
// the outbox: /ui/events streams each login event as it commits (resuming after the last id it
// saw when the connection drops), the event is shown in the activity list, and the table and
// the counts are fetched again from /ui/logins.
(() => {
  "use strict";
  const live = document.getElementById("live");
  if (!live) return;
  const feed = document.getElementById("feed");
  const status = document.getElementById("stream-status");
  const chart = document.getElementById("chart");
  const signIn = () => { window.location.href = "/ui/login"; };

  const text = (tag, cls, value) => {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    el.textContent = value;
    return el;
  };

  // The same markup as the page's own list (templates/dashboard.html, event_item).
  const show = (e) => {
    const li = document.createElement("li");
    li.className = "ev ev-" + e.kind + " fresh";
    li.dataset.seq = e.seq;
    li.append(text("time", "", e.at), " ", text("b", "", e.kind), " ",
      text("span", "dev", e.device || ""), " ", text("span", "usr", e.user || ""));
    if (e.actor) li.append(" ", text("span", "by", "by " + e.actor));
    if (e.detail) li.append(" ", text("span", "why", e.detail));
    feed.prepend(li);
    while (feed.children.length > 50) feed.lastElementChild.remove();
  };

  const refreshChart = async () => {
    chartAt = Date.now();
    try {
      const r = await fetch("/ui/chart", { credentials: "same-origin" });
      if (r.ok) chart.innerHTML = await r.text();
    } catch (_) { /* next time */ }
  };
  let chartAt = Date.now();

  let pending = null;
  const refresh = async () => {
    pending = null;
    try {
      const r = await fetch("/ui/logins" + window.location.search, { credentials: "same-origin" });
      if (r.status === 401) return signIn();
      if (r.ok) live.innerHTML = await r.text();
    } catch (_) { /* the next event tries again */ }
    // The chart is a day at a glance: at most every 5 seconds.
    if (Date.now() - chartAt > 5000) refreshChart();
  };
  const soon = () => { if (!pending) pending = setTimeout(refresh, 150); };

  // The browser reconnects a dropped stream by itself, sending the last id it saw. A stream the
  // server refused (the session ended while the network was down, the database did not answer)
  // is closed for good: then ask again, from the last event seen, after a pause that grows.
  let lastSeen = live.dataset.after || "";
  let pause = 1000;
  const connect = () => {
    const stream = new EventSource("/ui/events?after=" + encodeURIComponent(lastSeen));
    stream.onopen = () => {
      pause = 1000;
      status.textContent = "live";
      status.className = "status on";
      soon(); // what changed while away
    };
    stream.onerror = () => {
      status.textContent = "reconnecting…";
      status.className = "status off";
      if (stream.readyState !== EventSource.CLOSED) return;
      setTimeout(async () => {
        try {
          const r = await fetch("/ui/logins" + window.location.search, { credentials: "same-origin" });
          if (r.status === 401) return signIn();
        } catch (_) { /* still away */ }
        connect();
      }, pause);
      pause = Math.min(pause * 2, 30000);
    };
    stream.onmessage = (m) => {
      if (m.lastEventId) lastSeen = m.lastEventId;
      try { show(JSON.parse(m.data)); } catch (_) { return; }
      soon();
    };
    stream.addEventListener("signedOut", () => { stream.close(); signIn(); });
  };
  connect();

  // Time moves the chart too, events or not.
  setInterval(refreshChart, 60000);
})();
