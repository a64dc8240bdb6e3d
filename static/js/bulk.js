// webadmit-dash: selecting rows of Recent Files for the bulk bar (templates/includes/bulk_bar.html).
// The selection lives here, by file id, not in the checkboxes: the live poll swaps whole rows (their checkboxes
// come back unticked), so every row swapped in is ticked again from it. Shift-click ticks (or unticks) the range
// from the last box clicked. "Select all N matching" sends the filters instead of ids; the server reads them again.
// The checkboxes (the rows' and the page's) carry no id (found by value or data attribute): swapping a row or the
// results, htmx's settle step gave an id'd checkbox an empty
// style attribute, which the Content-Security-Policy refuses.
(function () {
  "use strict";

  const selected = new Set();
  let allMatching = false;
  let lastClicked = null;

  function form() { return document.getElementById("bulk-form"); }
  function rowBoxes() { return Array.from(document.querySelectorAll("input[data-bulk-row]")); }

  function render() {
    const bar = form();
    rowBoxes().forEach(function (box) {
      const on = allMatching || selected.has(box.value);
      if (box.checked !== on) box.checked = on;
      const row = box.closest("tr");
      if (row) row.classList.toggle("is-selected", on);
    });
    const page = document.querySelector("[data-bulk-page]");
    const boxes = rowBoxes();
    if (page) {
      const ticked = boxes.filter(function (box) { return box.checked; }).length;
      page.checked = boxes.length > 0 && ticked === boxes.length;
      page.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    if (!bar) return;
    const matching = Number(bar.dataset.matching) || 0;
    const count = allMatching ? matching : selected.size;
    bar.hidden = count === 0;
    document.body.classList.toggle("has-bulk-bar", count > 0);
    const all = bar.querySelector("[data-bulk-all]");
    if (all) all.value = allMatching ? "1" : "";
    const words = bar.querySelector("[data-bulk-count]");
    const text = allMatching
      ? "All " + matching + " matching the filters selected"
      : count + (count === 1 ? " file selected" : " files selected");
    if (words && words.textContent !== text) words.textContent = text;
    const selectAll = bar.querySelector("[data-bulk-select-all]");
    if (selectAll) selectAll.hidden = allMatching;
  }

  function clear() {
    selected.clear();
    allMatching = false;
    lastClicked = null;
    render();
  }

  function tick(box, on) {
    if (on) selected.add(box.value);
    else selected.delete(box.value);
  }

  // Leaving "all matching" by unticking one row keeps the rows on screen (minus that one) as the selection.
  function leaveAllMatching() {
    if (!allMatching) return;
    allMatching = false;
    rowBoxes().forEach(function (box) { selected.add(box.value); });
  }

  document.addEventListener("click", function (event) {
    const box = event.target.closest && event.target.closest("input[data-bulk-row]");
    if (box) {
      leaveAllMatching();
      const boxes = rowBoxes();
      if (event.shiftKey && lastClicked && lastClicked !== box && boxes.indexOf(lastClicked) >= 0) {
        const from = boxes.indexOf(lastClicked);
        const to = boxes.indexOf(box);
        boxes.slice(Math.min(from, to), Math.max(from, to) + 1).forEach(function (each) { tick(each, box.checked); });
      } else {
        tick(box, box.checked);
      }
      lastClicked = box;
      render();
      return;
    }
    if (event.target.closest && event.target.closest("[data-bulk-page]")) {
      const on = event.target.checked;
      leaveAllMatching();
      rowBoxes().forEach(function (each) { tick(each, on); });
      render();
      return;
    }
    if (event.target.closest && event.target.closest("[data-bulk-select-all]")) {
      allMatching = true;
      render();
      return;
    }
    if (event.target.closest && event.target.closest("[data-bulk-clear]")) {
      clear();
      const first = rowBoxes()[0];
      if (first) first.focus();
      return;
    }
    if (event.target.closest && event.target.closest("#bulk-dialog [data-bulk-close]")) {
      const dialog = document.getElementById("bulk-dialog");
      if (dialog && dialog.open) dialog.close();
    }
  });

  // Space on a focused checkbox clicks it (with Shift held, a range, as with the mouse): keyboards need no more.

  // Rows swapped in by the poll (out of band), new runs inserted at the top, or a whole new list: tick again what is
  // selected. A new list (filters, paging) starts a new selection: its rows are not the ones that were chosen.
  document.addEventListener("htmx:load", function (event) {
    const elt = event.detail.elt;
    if (elt && elt.id === "results") {
      selected.clear();
      allMatching = false;
      lastClicked = null;
    }
    render();
  });

  // Also at once after each swap, before htmx settles the new rows (and raises htmx:load): a swapped row is never
  // shown unticked, not even for the settle's few milliseconds.
  document.addEventListener("htmx:oobAfterSwap", render);
  document.addEventListener("htmx:afterSwap", render);

  // Sent by the server once a bulk action is done (web/views/bulk.py): the selection has been acted on.
  document.body.addEventListener("bulk-done", function () {
    const dialog = document.getElementById("bulk-dialog");
    if (dialog && dialog.open) dialog.close();
    clear();
  });

  // Bulk Run again's question arrives in the dialog: open it, with the confirm button focused (or Close, when the
  // budget refuses). Its answer (messages, out of band) closes it.
  document.addEventListener("htmx:afterSwap", function (event) {
    const dialog = event.detail.target;
    if (!dialog || dialog.id !== "bulk-dialog" || typeof dialog.showModal !== "function") return;
    if (!dialog.querySelector("form")) return;
    if (!dialog.open) dialog.showModal();
    const first = dialog.querySelector("#bulk-run-confirm") || dialog.querySelector("[data-bulk-close]");
    if (first) first.focus();
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    const elt = event.detail.elt;
    const dialog = document.getElementById("bulk-dialog");
    if (!dialog || !elt || !elt.closest || !elt.closest("#bulk-dialog")) return;
    if (dialog.open) dialog.close();
  });
  const dialog = document.getElementById("bulk-dialog");
  if (dialog) {
    dialog.addEventListener("close", function () {
      const back = document.getElementById("bulk-run-again");
      if (back && !back.disabled) back.focus();
    });
  }

  render();
})();
