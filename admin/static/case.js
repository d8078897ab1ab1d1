// The case page: photo lightbox (Esc / ← / →), the location map, reply templates filling textareas,
// and the address bar left on the case page after a submission. No inline scripts (CSP).
(function () {
  "use strict";

  // ---------------------------------------------------------------- lightbox
  var box = document.getElementById("lightbox");
  var links = Array.prototype.slice.call(document.querySelectorAll("a[data-lightbox]"));
  var current = -1;
  var show = function (index) {
    if (!box || !links.length) { return; }
    current = (index + links.length) % links.length;
    var link = links[current];
    var img = box.querySelector("img");
    img.src = link.getAttribute("href");
    img.alt = link.getAttribute("data-caption") || "";
    box.querySelector("figcaption").textContent = link.getAttribute("data-caption") || "";
    box.hidden = false;
    box.querySelector(".lb-close").focus();
  };
  var close = function () {
    if (!box || box.hidden) { return; }
    box.hidden = true;
    box.querySelector("img").removeAttribute("src");
    if (links[current]) { links[current].focus(); }
    current = -1;
  };
  links.forEach(function (link, index) {
    link.addEventListener("click", function (event) { event.preventDefault(); show(index); });
  });
  if (box) {
    box.querySelector(".lb-close").addEventListener("click", close);
    box.querySelector(".lb-prev").addEventListener("click", function () { show(current - 1); });
    box.querySelector(".lb-next").addEventListener("click", function () { show(current + 1); });
    box.addEventListener("click", function (event) { if (event.target === box) { close(); } });
    document.addEventListener("keydown", function (event) {
      if (box.hidden) { return; }
      if (event.key === "Escape") { event.preventDefault(); close(); }
      else if (event.key === "ArrowLeft") { event.preventDefault(); show(current - 1); }
      else if (event.key === "ArrowRight") { event.preventDefault(); show(current + 1); }
    }, true);
  }

  // ---------------------------------------------------------------- map
  var mapEl = document.getElementById("case-map");
  var drawMap = function () {
    var L = window.L;
    var lng = parseFloat(mapEl.getAttribute("data-lng"));
    var lat = parseFloat(mapEl.getAttribute("data-lat"));
    var tiles = mapEl.getAttribute("data-tile-url");
    var map = L.map(mapEl, { attributionControl: !!tiles, scrollWheelZoom: false });
    var gridLayer = null;
    var grid = mapEl.getAttribute("data-grid");
    if (grid) {
      try {
        gridLayer = L.geoJSON(JSON.parse(grid), {
          style: { color: "#0b4f8a", weight: 2, fillColor: "#0b4f8a", fillOpacity: 0.08 }
        });
      } catch (error) { gridLayer = null; }
    }
    // The view first: vector layers need it before they are added.
    var bounds = gridLayer ? gridLayer.getBounds() : null;
    if (bounds && bounds.isValid()) {
      map.fitBounds(bounds.extend(L.latLng(lat, lng)), { padding: [30, 30], maxZoom: 18 });
    } else {
      map.setView([lat, lng], 17);
    }
    if (tiles) {
      L.tileLayer(tiles, {
        attribution: mapEl.getAttribute("data-tile-attribution") || "", subdomains: "01234567", maxZoom: 19
      }).addTo(map);
    }
    if (gridLayer) { gridLayer.addTo(map); }
    L.circleMarker([lat, lng], {
      radius: 8, color: "#fff", weight: 2, fillColor: "#c62828", fillOpacity: 1
    }).addTo(map);
    mapEl.setAttribute("data-ready", "1");
  };
  if (mapEl && window.L) {
    try { drawMap(); } catch (error) { mapEl.textContent = "地图加载失败"; }
  }

  // ---------------------------------------------------------------- reply templates
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("select[data-reply-template]")) { return; }
    var option = select.options[select.selectedIndex];
    var target = document.getElementById(select.getAttribute("data-reply-template"));
    if (target && option && option.value) {
      target.value = option.getAttribute("data-body") || "";
      target.focus();
    }
  });

  // ---------------------------------------------------------------- a refused submission
  // The page shows the case's current state; keep the address on the case page (a reload must not
  // submit the stale form again).
  var conflict = document.querySelector("[data-replace-url]");
  if (conflict && window.history && window.history.replaceState) {
    window.history.replaceState(null, "", conflict.getAttribute("data-replace-url"));
  }
  // A success message is shown once: a reload of the page does not repeat it.
  var head = document.querySelector("[data-case-path]");
  if (document.querySelector("[data-done]") && head && window.history && window.history.replaceState) {
    window.history.replaceState(null, "", head.getAttribute("data-case-path"));
  }
})();
