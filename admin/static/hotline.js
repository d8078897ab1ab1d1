// 热线来电: the screen-pop. An EventSource on /hotline/events; each "call" event loads the call's pop
// (an htmx fragment) at the top of #pops, once per call. No inline scripts (CSP).
(function () {
  "use strict";
  var pops = document.getElementById("pops");
  var status = document.getElementById("hotline-status");
  if (!pops || !window.EventSource) { return; }

  var say = function (state, text) {
    if (!status) { return; }
    status.setAttribute("data-state", state);
    status.textContent = text;
  };

  var load = function (data) {
    if (!data || !data.id || !data.url) { return; }
    if (pops.querySelector('[data-call-id="' + data.id + '"]')) { return; }
    var empty = pops.querySelector(".pops-empty");
    if (empty) { empty.remove(); }
    var slot = document.createElement("div");
    slot.setAttribute("data-call-id", String(data.id));
    slot.className = "pop-slot";
    pops.insertBefore(slot, pops.firstChild);
    if (window.htmx) {
      window.htmx.ajax("GET", data.url, { target: slot, swap: "outerHTML" });
    } else {
      var link = document.createElement("a");
      link.href = data.url;
      link.textContent = "新来电，点击查看";
      slot.appendChild(link);
    }
    if (document.hidden && window.Notification && Notification.permission === "granted") {
      new Notification("新来电");
    }
  };

  var source = new EventSource(pops.getAttribute("data-events"));
  source.addEventListener("open", function () { say("open", "来电推送已连接，等待来电…"); });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) { say("closed", "来电推送已断开，请刷新页面"); return; }
    say("retrying", "来电推送连接中断，正在重连…");
  });
  source.addEventListener("call", function (event) {
    try { load(JSON.parse(event.data)); } catch (ignored) { /* a malformed event is skipped */ }
  });
  source.addEventListener("end", function () {
    source.close();
    say("ended", "登录已失效，来电推送已停止，请重新登录");
  });
  window.addEventListener("beforeunload", function () { source.close(); });

  // "关闭" on a handled call's card removes it from the list.
  pops.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".pop-dismiss");
    if (!button) { return; }
    var card = button.closest(".pop");
    if (card) { card.remove(); }
  });
})();
