// The teacher's page works without this file; with it, parts marked data-live refresh
// themselves, a task's progress appears as it comes, and data-confirm buttons ask first.
(function () {
  "use strict";

  // The page stopped answering (the agent restarted, `hoso ui` went idle) or no longer
  // knows this browser (a restart ends sessions): say what is shown is no longer current,
  // rather than go on showing "all synced" as if it were live.
  function stale(yes) {
    var note = document.getElementById("stale");
    if (note) { note.hidden = !yes; }
  }

  function answered(answer) {
    stale(answer.status === 401);
    return answer.ok;
  }

  // What each live part last showed: it is replaced only when it changed, so a button the
  // teacher reached with the keyboard keeps its focus while nothing changes.
  var shown = new WeakMap();

  function refresh(element) {
    if (document.hidden) { return; }
    fetch(element.dataset.live, { headers: { "X-Hoso-Part": "1" }, credentials: "same-origin" })
      .then(function (answer) { return answered(answer) ? answer.text() : null; })
      .then(function (html) {
        if (html === null || html === shown.get(element)) { return; }
        var first = !shown.has(element);
        shown.set(element, html);
        // The first round finds the part as served, unless the focus is elsewhere anyway.
        if (first && element.contains(document.activeElement)) { return; }
        element.innerHTML = html;
      })
      .catch(function () { stale(true); /* the next round tries again */ });
  }

  function followTask(element) {
    var state = element.querySelector(".task-state");
    var lines = element.querySelector(".task-lines");
    var result = element.querySelector(".task-result");
    var then = element.querySelector(".task-then");
    function round() {
      fetch(element.dataset.task, { credentials: "same-origin" })
        .then(function (answer) { return answered(answer) ? answer.json() : null; })
        .then(function (task) {
          if (task === null) { return; }
          lines.replaceChildren.apply(lines, task.lines.map(function (line) {
            var item = document.createElement("li");
            item.textContent = line;
            return item;
          }));
          if (task.done) {
            state.textContent = state.dataset.finished || state.textContent;
            result.textContent = task.result;
            result.className = "task-result flash " + (task.problem ? "problem" : "done");
            result.hidden = false;
            then.hidden = false;
          } else {
            window.setTimeout(round, 1000);
          }
        })
        .catch(function () { stale(true); window.setTimeout(round, 3000); });
    }
    round();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live]").forEach(function (element) {
      var every = 1000 * (parseFloat(element.dataset.every) || 5);
      window.setInterval(function () { refresh(element); }, every);
    });
    document.querySelectorAll("[data-task]").forEach(followTask);
    document.querySelectorAll("[data-confirm]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        if (!window.confirm(button.dataset.confirm)) { event.preventDefault(); }
      });
    });
  });
})();
