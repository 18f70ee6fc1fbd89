/* Glasshouse portal maps (Leaflet, served by Glasshouse; no build step, no CDN).
 *
 * Every element with a data-map attribute becomes a map:
 *   data-map="view"   shows data-cameras (markers) and data-areas (circles / polygons);
 *   data-map="point"  a click sets the latitude/longitude inputs named by data-lat-input / data-lon-input;
 *   data-map="area"   clicks draw a circle (centre, then the radius input) or a polygon (one point per click)
 *                     and write the geometry as JSON into the hidden input named by data-area-input.
 * data-tiles is the tile URL template (empty: no tiles, the map still draws shapes and markers);
 * data-center="lat,lon" and data-zoom set the first view when there is nothing to fit.
 * The forms never depend on this script: every coordinate can also be typed.
 */
(function () {
  "use strict";
  var SQ_M_PER_SQ_MI = 2589988.110336;
  var EARTH_RADIUS_M = 6371008.8;

  function json(el, name, fallback) {
    var raw = el.getAttribute(name);
    if (!raw) { return fallback; }
    try { return JSON.parse(raw); } catch (e) { return fallback; }
  }

  function byId(id) { return id ? document.getElementById(id) : null; }

  function num(input) {
    if (!input || input.value.trim() === "") { return NaN; }
    return Number(input.value);
  }

  function round6(x) { return Math.round(x * 1e6) / 1e6; }

  /* Square miles of a circle or polygon (polygon: shoelace on a local equirectangular projection). */
  function areaSqMi(area) {
    if (!area) { return 0; }
    if (area.type === "circle") {
      return Math.PI * area.radius_m * area.radius_m / SQ_M_PER_SQ_MI;
    }
    var pts = area.points || [];
    if (pts.length < 3) { return 0; }
    var lat0 = 0;
    pts.forEach(function (p) { lat0 += p[0]; });
    lat0 = lat0 / pts.length * Math.PI / 180;
    var xy = pts.map(function (p) {
      return [EARTH_RADIUS_M * p[1] * Math.PI / 180 * Math.cos(lat0), EARTH_RADIUS_M * p[0] * Math.PI / 180];
    });
    var twice = 0;
    for (var i = 0; i < xy.length; i++) {
      var a = xy[i], b = xy[(i + 1) % xy.length];
      twice += a[0] * b[1] - b[0] * a[1];
    }
    return Math.abs(twice) / 2 / SQ_M_PER_SQ_MI;
  }

  function shapeOf(area, style) {
    if (area.type === "circle") {
      return L.circle(area.center, { radius: area.radius_m }).setStyle(style);
    }
    return L.polygon(area.points, style);
  }

  function baseMap(el) {
    var center = (el.getAttribute("data-center") || "0,0").split(",").map(Number);
    var zoom = Number(el.getAttribute("data-zoom") || "15");
    var map = L.map(el, { center: center, zoom: zoom, doubleClickZoom: el.getAttribute("data-map") === "view" });
    var tiles = el.getAttribute("data-tiles");
    if (tiles) {
      L.tileLayer(tiles, { maxZoom: 19, attribution: el.getAttribute("data-attribution") || "" }).addTo(map);
    } else {
      el.classList.add("no-tiles");
    }
    L.control.scale().addTo(map);
    return map;
  }

  function drawStatic(el, map) {
    var bounds = L.latLngBounds([]);
    json(el, "data-areas", []).forEach(function (area) {
      var shape = shapeOf(area, { color: "#b42318", weight: 2, fillOpacity: 0.15 }).addTo(map);
      if (area.label) { shape.bindTooltip(area.label); }
      bounds.extend(shape.getBounds());
    });
    json(el, "data-cameras", []).forEach(function (cam) {
      var marker = L.circleMarker([cam.lat, cam.lon], {
        radius: 7, color: "#0b5cad", weight: 2, fillColor: "#ffffff", fillOpacity: 1
      }).addTo(map);
      if (cam.name) { marker.bindTooltip(cam.name); }
      bounds.extend(marker.getLatLng());
    });
    return bounds;
  }

  function pointPicker(el, map) {
    var lat = byId(el.getAttribute("data-lat-input"));
    var lon = byId(el.getAttribute("data-lon-input"));
    var marker = null;
    function show() {
      var la = num(lat), lo = num(lon);
      if (isNaN(la) || isNaN(lo)) { return; }
      if (!marker) {
        marker = L.circleMarker([la, lo], { radius: 8, color: "#1a7f37", weight: 3, fillOpacity: 0.6 }).addTo(map);
      } else {
        marker.setLatLng([la, lo]);
      }
    }
    map.on("click", function (e) {
      lat.value = round6(e.latlng.lat);
      lon.value = round6(e.latlng.lng);
      show();
    });
    [lat, lon].forEach(function (input) { input.addEventListener("change", show); });
    show();
  }

  function areaDrawer(el, map) {
    var form = el.closest("form");
    var hidden = byId(el.getAttribute("data-area-input"));
    var readout = byId(el.getAttribute("data-readout"));
    var cLat = form.querySelector("[name=center_lat]");
    var cLon = form.querySelector("[name=center_lon]");
    var radius = form.querySelector("[name=radius_m]");
    var points = json(el, "data-points", []);
    var layer = null;
    var vertices = L.layerGroup().addTo(map);

    function shape() {
      var checked = form.querySelector("[name=shape]:checked");
      return checked ? checked.value : "circle";
    }

    function current() {
      if (shape() === "circle") {
        var la = num(cLat), lo = num(cLon), r = num(radius);
        if (isNaN(la) || isNaN(lo) || isNaN(r) || r <= 0) { return null; }
        return { type: "circle", center: [la, lo], radius_m: r };
      }
      return points.length >= 3 ? { type: "polygon", points: points.slice() } : null;
    }

    function redraw() {
      if (layer) { map.removeLayer(layer); layer = null; }
      vertices.clearLayers();
      var area = current();
      if (shape() === "polygon") {
        points.forEach(function (p) {
          L.circleMarker(p, { radius: 4, color: "#b42318", weight: 2, fillOpacity: 1 }).addTo(vertices);
        });
        if (points.length === 2) { layer = L.polyline(points, { color: "#b42318" }).addTo(map); }
      }
      if (area) {
        layer = shapeOf(area, { color: "#b42318", weight: 2, fillOpacity: 0.15 }).addTo(map);
      }
      hidden.value = area ? JSON.stringify(area) : "";
      if (readout) {
        if (area) {
          readout.textContent = "Area drawn: " + areaSqMi(area).toFixed(3) + " sq mi" +
            (area.type === "polygon" ? " (" + points.length + " points)" : "");
        } else if (shape() === "polygon") {
          readout.textContent = "Polygon: " + points.length + " of at least 3 points. Click the map to add one.";
        } else {
          readout.textContent = "Click the map to set the circle's centre.";
        }
      }
    }

    map.on("click", function (e) {
      if (shape() === "circle") {
        cLat.value = round6(e.latlng.lat);
        cLon.value = round6(e.latlng.lng);
      } else {
        points.push([round6(e.latlng.lat), round6(e.latlng.lng)]);
      }
      redraw();
    });
    [cLat, cLon, radius].forEach(function (input) { input.addEventListener("input", redraw); });
    form.querySelectorAll("[name=shape]").forEach(function (r) { r.addEventListener("change", redraw); });
    var undo = form.querySelector("[data-action=undo-point]");
    var clear = form.querySelector("[data-action=clear-points]");
    if (undo) { undo.addEventListener("click", function () { points.pop(); redraw(); }); }
    if (clear) { clear.addEventListener("click", function () { points = []; redraw(); }); }
    var previous = json(hidden, "value", null);
    if (previous && previous.type === "polygon" && points.length === 0) { points = previous.points || []; }
    redraw();
  }

  function init(el) {
    if (typeof L === "undefined") { return; }
    var map = baseMap(el);
    var bounds = drawStatic(el, map);
    if (bounds.isValid() && el.getAttribute("data-fit") !== "no") {
      map.fitBounds(bounds.pad(0.3), { maxZoom: 17 });
    }
    var mode = el.getAttribute("data-map");
    if (mode === "point") { pointPicker(el, map); }
    if (mode === "area") { areaDrawer(el, map); }
    el.glasshouseMap = map;  // for tests and the curious: the Leaflet map object
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-map]").forEach(init);
  });
})();
