// yonos-bench report: the per-image browser. Vanilla JS, no dependency, no network:
// reads the JSON in #report-data and builds the rows LR | A | B | HR | A/B wipe.
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("report-data").textContent);
  var PAGE = 12;
  var state = { p: 0, a: 0, b: 1, metric: null, sort: "a-better", zoom: 4, shown: PAGE };
  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fill(sel, items, selected) {
    sel.innerHTML = "";
    items.forEach(function (t, i) {
      var o = el("option", { value: String(i) }, t);
      if (i === selected) o.selected = true;
      sel.appendChild(o);
    });
  }
  function fmt(v) {
    if (v === undefined || v === null) return "–";
    return Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4);
  }
  function proto() { return DATA[state.p]; }
  function value(cell, id) {
    var m = cell.metrics[state.metric];
    return m ? m.values[id] : undefined;
  }
  // Positive: A is better than B on the metric, whatever its direction.
  function delta(id) {
    var A = proto().cells[state.a], B = proto().cells[state.b];
    var va = value(A, id), vb = value(B, id), m = A.metrics[state.metric];
    if (va === undefined || vb === undefined) return null;
    return (m.lower_better ? -1 : 1) * (va - vb);
  }
  function orderedIds() {
    var ids = proto().pairs.slice();
    if (state.sort === "id") return ids;
    var sign = state.sort === "a-better" ? -1 : 1;
    return ids.sort(function (x, y) {
      var dx = delta(x), dy = delta(y);
      if (dx === null && dy === null) return x < y ? -1 : 1;
      if (dx === null) return 1;
      if (dy === null) return -1;
      return dx !== dy ? sign * (dx - dy) : (x < y ? -1 : 1);
    });
  }
  function image(src, alt) {
    var img = el("img", { src: src, alt: alt, draggable: "false" });
    img.onload = function () { img.setAttribute("data-loaded", "1"); };
    img.onerror = function () { img.setAttribute("data-error", "1"); };
    return img;
  }
  function panel(label, src, id, extra) {
    var fig = el("figure", { "class": "panel" });
    var view = el("div", { "class": "view" });
    if (src) view.appendChild(image(src, label + " " + id));
    else view.appendChild(el("div", { "class": "missing" }, "no image"));
    fig.appendChild(view);
    fig.appendChild(el("figcaption", {}, label + (extra ? " — " + extra : "")));
    return fig;
  }
  function srSrc(cell, id) { return cell.have.indexOf(id) >= 0 ? cell.dir + "/" + id + ".png" : null; }
  function wipe(A, B, id) {
    var fig = el("figure", { "class": "panel wipe" });
    var view = el("div", { "class": "view" });
    var bottom = srSrc(B, id), top = srSrc(A, id);
    if (bottom) view.appendChild(image(bottom, "B " + id));
    var cover = el("div", { "class": "top" });
    if (top) cover.appendChild(image(top, "A " + id));
    view.appendChild(cover);
    var range = el("input", { type: "range", min: "0", max: "100", value: "50", "aria-label": "A/B wipe" });
    function set() { cover.style.clipPath = "inset(0 " + (100 - range.value) + "% 0 0)"; }
    range.oninput = set;
    set();
    fig.appendChild(view);
    fig.appendChild(range);
    fig.appendChild(el("figcaption", {}, "wipe: A (left) | B (right)"));
    return fig;
  }
  function zoomable(row) {
    var imgs = row.getElementsByTagName("img");
    function apply(x, y, z) {
      for (var i = 0; i < imgs.length; i++) {
        imgs[i].style.transformOrigin = x + "% " + y + "%";
        imgs[i].style.transform = z > 1 ? "scale(" + z + ")" : "";
      }
    }
    row.addEventListener("mousemove", function (e) {
      var view = e.target.closest ? e.target.closest(".view") : null;
      if (!view || state.zoom <= 1) return;
      var r = view.getBoundingClientRect();
      apply(100 * (e.clientX - r.left) / r.width, 100 * (e.clientY - r.top) / r.height, state.zoom);
    });
    row.addEventListener("mouseleave", function () { apply(50, 50, 1); });
  }
  function render() {
    var P = proto(), A = P.cells[state.a], B = P.cells[state.b];
    var box = $("pairs");
    box.innerHTML = "";
    var ids = orderedIds();
    var ds = ids.map(delta).filter(function (d) { return d !== null; });
    var wins = ds.filter(function (d) { return d > 0; }).length;
    var mean = ds.length ? ds.reduce(function (s, d) { return s + d; }, 0) / ds.length : null;
    $("summary").textContent = P.pairs.length + " pairs. On " + (state.metric || "–") + ", A (" + A.label +
      ") is better than B (" + B.label + ") on " + wins + " of " + ds.length + " pairs; mean difference " +
      fmt(mean) + " (positive: A better).";
    ids.slice(0, state.shown).forEach(function (id) {
      var row = el("div", { "class": "pair", "data-id": id });
      var h = el("h3", {}, id + " ");
      var d = delta(id);
      h.appendChild(el("span", { "class": "delta " + (d > 0 ? "pos" : d < 0 ? "neg" : "") },
        "Δ " + (state.metric || "") + " (A − B, better-is-positive): " + (d === null ? "–" : (d > 0 ? "+" : "") + fmt(d))));
      row.appendChild(h);
      var panels = el("div", { "class": "panels" });
      panels.appendChild(panel("LR", P.lr + "/" + id + ".png", id));
      panels.appendChild(panel("A: " + A.label, srSrc(A, id), id, state.metric + " " + fmt(value(A, id))));
      panels.appendChild(panel("B: " + B.label, srSrc(B, id), id, state.metric + " " + fmt(value(B, id))));
      if (P.hr) panels.appendChild(panel("HR", P.hr + "/" + id + ".png", id));
      panels.appendChild(wipe(A, B, id));
      row.appendChild(panels);
      zoomable(row);
      box.appendChild(row);
    });
    $("more").style.display = state.shown < ids.length ? "" : "none";
  }
  function selectProtocol(i) {
    state.p = i;
    var P = proto(), labels = P.cells.map(function (c) { return c.label + (c.reportable ? "" : " *"); });
    state.a = P.a; state.b = P.b;
    fill($("model-a"), labels, state.a);
    fill($("model-b"), labels, state.b);
    state.metric = P.metrics.length ? P.metrics[0] : null;
    fill($("metric"), P.metrics, 0);
    state.shown = PAGE;
  }
  function init() {
    if (!DATA.length) { $("summary").textContent = "No results."; return; }
    fill($("protocol"), DATA.map(function (d) { return d.protocol; }), 0);
    selectProtocol(0);
    $("protocol").onchange = function () { selectProtocol(+this.value); render(); };
    $("model-a").onchange = function () { state.a = +this.value; render(); };
    $("model-b").onchange = function () { state.b = +this.value; render(); };
    $("metric").onchange = function () { state.metric = proto().metrics[+this.value]; render(); };
    $("sort").onchange = function () { state.sort = this.value; render(); };
    $("zoom").onchange = function () { state.zoom = +this.value; };
    $("more").onclick = function () { state.shown += PAGE; render(); };
    render();
  }
  init();
})();
