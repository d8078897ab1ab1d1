// The console map: our own WGS-84 vector data on Leaflet (no tile server needed).
// Grids, cases and places are GeoJSON from /map/data/*, fetched for the visible area only.
(function () {
  "use strict";
  var element = document.getElementById("map");
  if (!element || !window.L) { return; }
  var data = element.dataset;
  var statusLine = document.getElementById("map-status");
  var filters = document.getElementById("map-filters");
  var unitMinZoom = parseInt(data.unitMinZoom || "16", 10);
  var MAX_CACHED = 40;

  var map = L.map(element, { minZoom: 3, maxZoom: 19, zoomControl: true, attributionControl: true });
  if (data.tileUrl) {
    L.tileLayer(data.tileUrl, { attribution: data.tileAttribution || "", maxZoom: 19 }).addTo(map);
  }
  map.attributionControl.setPrefix("Leaflet");

  // --- helpers ---------------------------------------------------------------------------
  var text = function (tag, value, className) {
    var node = document.createElement(tag);
    node.textContent = value;
    if (className) { node.className = className; }
    return node;
  };
  var details = function (pairs) {
    var list = document.createElement("dl");
    pairs.forEach(function (pair) {
      if (pair[1] === "" || pair[1] === null || pair[1] === undefined) { return; }
      list.appendChild(text("dt", pair[0]));
      list.appendChild(text("dd", String(pair[1])));
    });
    return list;
  };
  var messages = {};
  var showStatus = function () {
    var parts = [];
    ["error", "cases", "grids", "places"].forEach(function (key) { if (messages[key]) { parts.push(messages[key]); } });
    statusLine.textContent = parts.join("；");
    statusLine.classList.toggle("error", Boolean(messages.error));
  };
  var round = function (value) { return Math.round(value * 1e6) / 1e6; };
  var bboxOf = function (bounds) {
    return [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()].map(round).join(",");
  };

  // Fetch JSON; a session that ended sends the browser to the sign-in page; a refused query shows its message.
  var sequence = {};
  var cache = new Map();
  var getJSON = function (key, url, useEtag) {
    var mine = (sequence[key] || 0) + 1;
    sequence[key] = mine;
    var cached = useEtag ? cache.get(url) : null;
    var headers = { "Accept": "application/json" };
    if (cached) { headers["If-None-Match"] = cached.etag; }
    return fetch(url, { headers: headers, credentials: "same-origin", cache: "no-store" }).then(function (response) {
      if (response.redirected || response.status === 401) { window.location.reload(); return null; }
      if (response.status === 304 && cached) { return cached.body; }
      var type = response.headers.get("content-type") || "";
      if (type.indexOf("json") < 0) { throw new Error("地图数据加载失败（" + response.status + "）"); }
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error(body.message || "地图数据加载失败"); }
        var etag = response.headers.get("ETag");
        if (useEtag && etag) {
          cache.set(url, { etag: etag, body: body });
          if (cache.size > MAX_CACHED) { cache.delete(cache.keys().next().value); }
        }
        return body;
      });
    }).then(function (body) {
      if (sequence[key] !== mine) { return null; }  // a newer request for this layer is under way
      if (messages.error) { messages.error = ""; showStatus(); }
      return body;
    }, function (error) {
      if (sequence[key] === mine) { messages.error = error.message; showStatus(); }
      return null;
    });
  };

  // --- grids -----------------------------------------------------------------------------
  var GRID_STYLES = {
    unit: { color: "#0b4f8a", weight: 1, opacity: 0.6, fillColor: "#0b4f8a", fillOpacity: 0.04 },
    responsibility: { color: "#e67e22", weight: 1.5, opacity: 0.8, dashArray: "4 3", fillOpacity: 0.03 },
    community: { color: "#0b4f8a", weight: 2, opacity: 0.8, fillColor: "#0b4f8a", fillOpacity: 0.05 }
  };
  var LEVEL_LABELS = { unit: "单元网格", responsibility: "责任网格", community: "社区" };
  var grids = L.geoJSON(null, {
    style: function (feature) { return GRID_STYLES[feature.properties.level] || GRID_STYLES.unit; },
    onEachFeature: function (feature, layer) {
      var p = feature.properties;
      layer.bindTooltip(LEVEL_LABELS[p.level] + " " + p.code + (p.name ? " " + p.name : ""),
        { sticky: true, className: "grid-tip" });
    }
  }).addTo(map);
  var gridUrl = "";
  // The box is widened and snapped to a coarse lattice, so small pans reuse the answer (and its ETag).
  var snappedBox = function (zoom) {
    var step = 360 / Math.pow(2, zoom) / 2;  // half a tile: at most one extra tile across and down
    var b = map.getBounds();
    var snap = function (value, up) { return round((up ? Math.ceil(value / step) : Math.floor(value / step)) * step); };
    return [snap(b.getWest(), false), snap(b.getSouth(), false), snap(b.getEast(), true), snap(b.getNorth(), true)].join(",");
  };
  var loadGrids = function () {
    var zoom = map.getZoom();
    var url = data.gridsUrl + "?bbox=" + snappedBox(zoom) + "&zoom=" + zoom;
    if (url === gridUrl) { return; }
    getJSON("grids", url, true).then(function (body) {
      if (!body) { return; }
      gridUrl = url;
      grids.clearLayers();
      grids.addData(body);
      grids.bringToBack();
      var label = LEVEL_LABELS[body.level] || "网格";
      messages.grids = body.truncated ? label + "过多，仅显示部分，请放大查看" :
        (body.level !== "unit" ? "放大到 " + unitMinZoom + " 级显示单元网格" : "");
      showStatus();
    });
  };

  // --- cases -----------------------------------------------------------------------------
  var cases = L.markerClusterGroup({
    maxClusterRadius: 45,
    disableClusteringAtZoom: 18,
    chunkedLoading: true,
    iconCreateFunction: function (cluster) {
      var children = cluster.getAllChildMarkers();
      var overdue = children.some(function (marker) { return marker.options.overdue; });
      var count = cluster.getChildCount();
      var size = count < 10 ? "small" : (count < 100 ? "medium" : "large");
      var inner = document.createElement("div");
      inner.appendChild(text("span", String(count)));
      return L.divIcon({
        html: inner.outerHTML,
        className: "marker-cluster marker-cluster-" + size + (overdue ? " has-overdue" : ""),
        iconSize: L.point(40, 40)
      });
    }
  }).addTo(map);
  var casePopup = function (p) {
    var box = document.createElement("div");
    box.className = "map-popup";
    var link = text("a", p.case_no, "case-link");
    link.href = data.caseBase + encodeURIComponent(p.case_no);
    box.appendChild(link);
    if (p.overdue) { box.appendChild(document.createTextNode(" ")); box.appendChild(text("span", "超期", "badge red")); }
    box.appendChild(details([["类别", p.category], ["状态", p.status_label], ["期限", p.due || "—"]]));
    return box;
  };
  var caseQuery = function () {
    var params = new URLSearchParams();
    var form = new FormData(filters);
    var statuses = form.getAll("status");
    statuses.forEach(function (value) { params.append("status", value); });
    if (form.get("category")) { params.set("category", form.get("category")); }
    if (form.get("overdue")) { params.set("overdue", "1"); }
    return { params: params, none: statuses.length === 0 };
  };
  var loadCases = function () {
    var query = caseQuery();
    if (query.none) {
      cases.clearLayers();
      messages.cases = "未选择案件阶段";
      showStatus();
      return;
    }
    query.params.set("bbox", bboxOf(map.getBounds().pad(0.2)));
    getJSON("cases", data.casesUrl + "?" + query.params.toString(), false).then(function (body) {
      if (!body) { return; }
      var markers = body.features.map(function (feature) {
        var p = feature.properties;
        var c = feature.geometry.coordinates;
        var icon = L.divIcon({
          className: "case-marker stage-" + p.status + (p.overdue ? " overdue" : ""),
          iconSize: [16, 16]
        });
        return L.marker([c[1], c[0]], {
          icon: icon, title: p.case_no + " " + p.status_label + (p.overdue ? "（超期）" : ""),
          alt: p.case_no, overdue: p.overdue, riseOnHover: true
        }).bindPopup(function () { return casePopup(p); });
      });
      cases.clearLayers();
      cases.addLayers(markers);
      var overdue = body.features.filter(function (f) { return f.properties.overdue; }).length;
      messages.cases = "当前范围 " + body.features.length + " 件案件" + (overdue ? "（超期 " + overdue + " 件）" : "") +
        (body.truncated ? "，仅显示最新的部分，请放大或筛选" : "");
      showStatus();
    });
  };

  // --- places ----------------------------------------------------------------------------
  var PLACE_ICONS = { toilet: "厕", parking: "P" };
  // Each kind clusters on its own (a city has hundreds); the cluster badge is the kind's icon with a count.
  var placeCluster = function (kind) {
    return L.markerClusterGroup({
      maxClusterRadius: 40,
      disableClusteringAtZoom: 16,
      showCoverageOnHover: false,
      iconCreateFunction: function (cluster) {
        return L.divIcon({
          className: "place-marker",
          html: '<span class="place-icon place-cluster ' + kind + '">' + PLACE_ICONS[kind] + " " +
            cluster.getChildCount() + "</span>",
          iconSize: [36, 20]
        });
      }
    }).addTo(map);
  };
  var placeLayers = { toilet: placeCluster("toilet"), parking: placeCluster("parking") };
  var placePopup = function (p) {
    var box = document.createElement("div");
    box.className = "map-popup";
    box.appendChild(text("strong", p.name));
    var rows = [["类型", p.kind_label], ["地址", p.address], ["开放时间", p.open_hours]];
    if (p.kind === "parking") {
      rows.push(["车位", p.capacity]);
      rows.push(["空余车位", p.available_spaces === null || p.available_spaces === undefined ? "未知" : p.available_spaces]);
      if (p.free) { rows.push(["收费", "免费"]); }
    }
    if (p.accessible) { rows.push(["无障碍", "有"]); }
    box.appendChild(details(rows));
    return box;
  };
  var loadPlaces = function () {
    var kinds = Object.keys(placeLayers).filter(function (kind) { return map.hasLayer(placeLayers[kind]); });
    if (!kinds.length) { messages.places = ""; showStatus(); return; }
    var params = new URLSearchParams({ bbox: bboxOf(map.getBounds().pad(0.2)) });
    kinds.forEach(function (kind) { params.append("kind", kind); });
    getJSON("places", data.placesUrl + "?" + params.toString(), false).then(function (body) {
      if (!body) { return; }
      var markers = { toilet: [], parking: [] };
      body.features.forEach(function (feature) {
        var p = feature.properties;
        var c = feature.geometry.coordinates;
        var icon = L.divIcon({
          className: "place-marker",
          html: '<span class="place-icon ' + p.kind + '">' + PLACE_ICONS[p.kind] + "</span>",
          iconSize: [20, 20]
        });
        markers[p.kind].push(L.marker([c[1], c[0]], { icon: icon, title: p.kind_label + " " + p.name, alt: p.name })
          .bindPopup(function () { return placePopup(p); }));
      });
      kinds.forEach(function (kind) {
        placeLayers[kind].clearLayers();
        placeLayers[kind].addLayers(markers[kind]);
      });
      messages.places = body.truncated ? "设施过多，仅显示部分" : "";
      showStatus();
    });
  };

  L.control.layers(null, {
    "网格": grids,
    "案件": cases,
    "公厕": placeLayers.toilet,
    "停车场": placeLayers.parking
  }, { collapsed: false }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);

  // --- wiring ----------------------------------------------------------------------------
  var timer = null;
  var refresh = function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      if (map.hasLayer(grids)) { loadGrids(); }
      if (map.hasLayer(cases)) { loadCases(); }
      loadPlaces();
    }, 200);
  };
  map.on("moveend", refresh);
  map.on("overlayadd", function (event) {
    if (event.layer === grids) { gridUrl = ""; }
    refresh();
  });
  filters.addEventListener("change", loadCases);
  filters.addEventListener("submit", function (event) { event.preventDefault(); loadCases(); });

  var bounds = (data.bounds || "").split(",").map(parseFloat);
  var center = (data.center || "").split(",").map(parseFloat);
  if (center.length === 2 && center.every(isFinite)) {
    map.setView([center[1], center[0]], parseInt(data.zoom || "17", 10));
  } else if (bounds.length === 4 && bounds.every(isFinite)) {
    map.fitBounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]], { padding: [20, 20] });
  } else {
    map.setView([35.0, 105.0], 4);  // no grids yet: all of China
    messages.grids = "尚未导入单元网格";
  }
  refresh();
}());
