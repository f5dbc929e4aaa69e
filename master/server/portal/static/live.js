// Live updates of the instance page through Server-Sent Events, and the
// copy buttons. The page works without this script: reload to see changes.
(function () {
  "use strict";
  document.querySelectorAll("button.copy").forEach(function (b) {
    b.addEventListener("click", function () {
      var input = document.getElementById(b.dataset.copy);
      input.select();
      if (navigator.clipboard) { navigator.clipboard.writeText(input.value); } else { document.execCommand("copy"); }
      b.textContent = "Copied";
    });
  });
  var live = document.getElementById("live");
  if (!live || !window.EventSource) { return; }
  var src = new EventSource(live.dataset.src);
  // The connection parameters the page shows: a change reloads it.
  var conn = JSON.stringify(JSON.parse(live.dataset.connection || "{}"));
  src.addEventListener("state", function (e) {
    var s = JSON.parse(e.data);
    document.querySelectorAll("[data-live]").forEach(function (el) {
      var v = s[el.dataset.live];
      if (v !== undefined) { el.textContent = v; }
    });
    var c = JSON.stringify(s.connection || {});
    if (c !== conn) { conn = c; window.location.reload(); }
  });
  src.addEventListener("signed-out", function () { src.close(); });
  src.addEventListener("gone", function () { src.close(); window.location.reload(); });
})();
