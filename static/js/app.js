// webadmit-dash: the little the page needs beyond htmx. Everything here is an enhancement: without it the
// server-rendered words stay as they were and the filters submit as a plain form.
(function () {
  "use strict";

  // Mirrors describe_span() in web/templatetags/display.py, so server and browser phrase times alike.
  function describeSpan(seconds) {
    let minutes = Math.floor(Math.max(seconds, 0) / 60);
    if (minutes < 1) return "<1 min";
    if (minutes < 60) return minutes + " min";
    let hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    if (hours < 24) return minutes && hours < 6 ? hours + " h " + minutes + " min" : hours + " h";
    const days = Math.floor(hours / 24);
    return days === 1 ? "1 day" : days + " days";
  }

  function describeAgo(seconds) {
    return seconds < 60 ? "just now" : describeSpan(seconds) + " ago";
  }

  // Polls re-render only rows that changed, so the "4 min ago" of every other row is kept current here.
  function refreshTimes(root) {
    const now = Date.now();
    (root || document).querySelectorAll("time[data-rel]").forEach(function (el) {
      const then = Date.parse(el.getAttribute("datetime"));
      if (Number.isNaN(then)) return;
      const seconds = (now - then) / 1000;
      const text = el.dataset.rel === "for" ? describeSpan(seconds) : describeAgo(seconds);
      if (el.textContent !== text) el.textContent = text;
    });
  }

  // Live parts of a page (the Recent Files poller, the Identities table) re-fetch on a "poll" event raised here
  // (hx-trigger="poll"): htmx's own "every 3s [document.visibilityState === 'visible']" evaluates its filter with
  // Function(), which the Content-Security-Policy forbids. An element with data-poll-every="N" gets "poll" every
  // N seconds while the tab is visible, and at once when the tab becomes visible again. Each render says its own
  // N (the server polls faster while something runs), and an element swapped in starts its own clock.
  const POLL_EVENT = "poll";
  const clocks = new WeakSet();

  function poll(el) {
    // Not bubbling: a poller inside another live part must not make that one poll too.
    el.dispatchEvent(new CustomEvent(POLL_EVENT, { bubbles: false }));
  }

  function startClock(el) {
    if (clocks.has(el)) return;
    clocks.add(el);
    let waited = 0;
    const schedule = function () {
      const seconds = Number(el.dataset.pollEvery);
      if (!(seconds > 0)) return;
      setTimeout(function () {
        if (!el.isConnected) return; // swapped out: its replacement runs its own clock
        // Ticks at the page's pace; after failed polls, only every few ticks poll (pollDelay), from the next one on.
        waited += seconds;
        if (waited >= pollDelay(seconds) && document.visibilityState === "visible") {
          waited = 0;
          poll(el);
        }
        schedule();
      }, seconds * 1000);
    };
    schedule();
  }

  function startClocks(root) {
    if (!root || !root.querySelectorAll) return;
    if (root.matches("[data-poll-every]")) startClock(root);
    root.querySelectorAll("[data-poll-every]").forEach(startClock);
  }

  // A request the server could not answer (503 while the database is not answering, or no answer at all): the
  // page keeps what it shows and says so in a notice; its pollers poll less often, twice as long after each failed
  // poll up to a minute, until an answer comes back; then the notice goes and the usual pace resumes. Never stops.
  const MAX_POLL_DELAY = 60;
  const NO_ANSWER = "The server is not answering; this page will retry.";
  let pollBackoff = 1;

  function pollDelay(seconds) {
    return Math.min(seconds * pollBackoff, Math.max(seconds, MAX_POLL_DELAY));
  }

  // The polls in flight. Their answer may swap the poller out of the page, and htmx then raises the request's
  // events on an ancestor: the request, not the element, says it was a poll.
  const pollRequests = new WeakSet();
  document.addEventListener("htmx:beforeRequest", function (event) {
    const el = event.detail.elt;
    if (el && el.matches && el.matches("[data-poll-every]")) pollRequests.add(event.detail.xhr);
  });

  function showOutage(text) {
    const messages = document.getElementById("messages");
    if (!messages) return;
    let notice = messages.querySelector("[data-outage]");
    if (!notice) {
      notice = document.createElement("div");
      notice.className = "message message--warning";
      notice.setAttribute("data-outage", "");
      messages.appendChild(notice);
    }
    if (notice.textContent !== text) notice.textContent = text;
  }

  function notAnswered(event, text) {
    if (pollRequests.has(event.detail.xhr)) pollBackoff = Math.min(pollBackoff * 2, MAX_POLL_DELAY);
    showOutage(text);
  }

  document.addEventListener("htmx:responseError", function (event) {
    const xhr = event.detail.xhr;
    // Our 503 says why in plain words (ops/outage.py). A 500 is a fault of its own, shown as before; a polled
    // proxy's error page (502, 504: the web server is down) is HTML, so it gets the general words.
    const plain = (xhr.getResponseHeader("Content-Type") || "").indexOf("text/plain") === 0;
    if (xhr.status === 503 && plain && xhr.responseText) notAnswered(event, xhr.responseText);
    else if (xhr.status > 500 && pollRequests.has(xhr)) notAnswered(event, NO_ANSWER);
  });
  document.addEventListener("htmx:sendError", function (event) { notAnswered(event, NO_ANSWER); });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (!event.detail.successful) return;
    if (pollRequests.has(event.detail.xhr)) pollBackoff = 1;
    const notice = document.querySelector("#messages [data-outage]");
    if (notice) notice.remove();
  });

  // htmx raises htmx:load on <body> once it is ready, and on every element it swaps in (out-of-band ones too).
  document.addEventListener("htmx:load", function (event) { startClocks(event.detail.elt); });

  setInterval(refreshTimes, 15000);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "visible") return;
    refreshTimes();
    document.querySelectorAll("[data-poll-every]").forEach(poll);
  });

  // A focused button that hx-disabled-elt disables in flight loses keyboard focus to <body> (Chromium), and
  // nothing gives it back. Remember it per request, and focus it (or its re-rendered twin, by id) when the
  // request ends, unless the user has moved on meanwhile. The answer may swap the requesting form out of the
  // page (Recent Files re-renders its freshness strip), and htmx then raises afterRequest on an ancestor still
  // in the page: hence the list of pending requests rather than a mark on the element.
  const refocusAfter = [];
  document.addEventListener("htmx:beforeRequest", function (event) {
    const active = document.activeElement;
    if (active && active.id && event.detail.elt.contains(active)) {
      refocusAfter.push({ elt: event.detail.elt, id: active.id });
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    for (let i = refocusAfter.length - 1; i >= 0; i--) {
      const pending = refocusAfter[i];
      if (pending.elt !== event.detail.elt && document.body.contains(pending.elt)) continue;
      refocusAfter.splice(i, 1);
      if (document.activeElement && document.activeElement !== document.body) continue;
      const again = document.getElementById(pending.id);
      if (again && !again.disabled) again.focus();
    }
  });

  // The "All" chip clears the status checkboxes in place; the form's own change trigger then reloads the list.
  document.addEventListener("click", function (event) {
    const all = event.target.closest("[data-clear-statuses]");
    if (!all || !window.htmx) return;
    const form = all.closest("form");
    if (!form) return;
    event.preventDefault();
    form.querySelectorAll('input[name="status"]').forEach(function (box) { box.checked = false; });
    form.dispatchEvent(new Event("change", { bubbles: true }));
  });

  // Keep the "All" chip's highlight in step with the checkboxes, since the form itself is never re-rendered.
  document.addEventListener("change", function (event) {
    const form = event.target.closest && event.target.closest("#filters");
    if (!form) return;
    const all = form.querySelector("[data-clear-statuses]");
    if (all) all.classList.toggle("is-current", !form.querySelector('input[name="status"]:checked'));
  });

  // On a phone the search and selects wait behind one button (the status chips stay in sight), so the first rows
  // show on the first screen. Without JavaScript the button stays hidden and the fields show, as on a laptop. The
  // button counts the fields in force, since the form itself is never re-rendered.
  const filterToggle = document.querySelector("#filters .filters__toggle");
  if (filterToggle) {
    const filterForm = filterToggle.closest("form");
    const panel = document.getElementById(filterToggle.getAttribute("aria-controls"));
    const activeCount = filterToggle.querySelector("[data-active-filters]");
    const showPanel = function (open) {
      filterForm.classList.toggle("is-collapsed", !open);
      filterToggle.setAttribute("aria-expanded", String(open));
    };
    const countActive = function () {
      let count = 0;
      panel.querySelectorAll("input, select").forEach(function (field) {
        // A chosen range's two dates are parts of its menu's one filter (data-filter-part).
        if (field.type === "hidden" || field.type === "submit" || field.hasAttribute("data-filter-part")) return;
        if (field.type === "checkbox" || field.type === "radio" ? field.checked : field.value) count += 1;
      });
      activeCount.textContent = count ? " · " + count + " in force" : "";
    };
    filterToggle.hidden = false;
    showPanel(false);
    countActive();
    filterToggle.addEventListener("click", function () { showPanel(filterForm.classList.contains("is-collapsed")); });
    filterForm.addEventListener("change", countActive);
    filterForm.addEventListener("input", countActive);
  }

  // Run again asks first. Its button submits a GET form to the confirmation page (what a browser without
  // JavaScript gets); here that submit opens the page's dialog instead, and "Start a new run" posts by htmx to
  // the same address, with the form's own fields and its hx-disabled-elt. Escape or Cancel close it unasked.
  const runAgainDialog = document.getElementById("run-again-dialog");
  let runAgainForm = null;
  document.addEventListener("submit", function (event) {
    const form = event.target.closest && event.target.closest("form[data-run-again]");
    if (!form || !runAgainDialog || !window.htmx || typeof runAgainDialog.showModal !== "function") return;
    event.preventDefault();
    runAgainForm = form;
    runAgainDialog.querySelectorAll("[data-run-again-name]").forEach(function (name) {
      name.textContent = form.dataset.name || "this export";
    });
    // A PDF Manager batch's Run again starts a new batch of its template: the dialog says so in its own words.
    const kind = form.dataset.kind || "export";
    runAgainDialog.querySelectorAll("[data-run-again-kind]").forEach(function (words) {
      words.hidden = words.dataset.runAgainKind !== kind;
    });
    runAgainDialog.returnValue = "";
    runAgainDialog.showModal();
    const confirm = runAgainDialog.querySelector("#run-again-confirm");
    if (confirm) confirm.focus();
  });
  if (runAgainDialog) {
    runAgainDialog.addEventListener("close", function () {
      const form = runAgainForm;
      runAgainForm = null;
      if (!form || !document.body.contains(form)) return;
      const button = form.querySelector("button");
      if (runAgainDialog.returnValue === "confirm") {
        window.htmx.ajax("POST", form.getAttribute("action"), { source: form, swap: "none" });
      }
      if (button) button.focus();
    });
  }
})();

// Dates (issue 23): the First seen menu shows its two dates for "choose dates…" only, and clears them for any
// other choice, before htmx reads the form (capture phase), so a preset or "any date" never sends stale dates.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    const menu = event.target;
    if (!menu || menu.id !== "id_when") return;
    const range = menu.form && menu.form.querySelector("[data-custom-range]");
    if (!range) return;
    const custom = menu.value === "custom";
    range.hidden = !custom;
    if (!custom) range.querySelectorAll("input").forEach(function (input) { input.value = ""; });
  }, true);
})();
