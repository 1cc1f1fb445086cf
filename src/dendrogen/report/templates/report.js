// The report's only script: reads the embedded JSON document, fills images, and shows one
// node's panel on click or keyboard. No libraries, no network.
(function () {
  "use strict";
  const doc = JSON.parse(document.getElementById("report-data").textContent);
  const nodes = new Map(doc.nodes.map((n) => [n.id, n]));
  const $ = (id) => document.getElementById(id);
  const fmt = (v, digits) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
  let current = null;

  // Images live once, in the document; elements name them by key.
  document.querySelectorAll("img[data-image]").forEach((img) => {
    const uri = doc.images[img.dataset.image];
    if (uri) img.src = uri;
  });

  function setImage(img, note, key, whyNot) {
    if (key && doc.images[key]) { img.src = doc.images[key]; note.textContent = ""; }
    else { img.removeAttribute("src"); note.textContent = whyNot; }
  }
  const SEE_ABOVE = " (see “Not in this report”)";

  function histogram(node) {
    const box = $("panel-histogram");
    box.textContent = "";
    if (!node.class_counts) { box.textContent = "no labels given"; return; }
    const most = Math.max(1, ...node.class_counts);
    node.class_counts.forEach((count, i) => {
      const row = document.createElement("div");
      row.className = "bar";
      const name = document.createElement("span");
      name.className = "name"; name.textContent = doc.data.classes[i].name;
      const fill = document.createElement("span");
      fill.className = "fill"; fill.style.width = (120 * count / most) + "px";
      const value = document.createElement("span");
      value.textContent = count;
      row.append(name, fill, value);
      box.append(row);
    });
  }

  function select(id) {
    const node = nodes.get(id);
    if (!node) return;
    current = id;
    document.querySelectorAll(".selected").forEach((el) => el.classList.remove("selected"));
    document.querySelectorAll('[data-node="' + id + '"]').forEach((el) => el.classList.add("selected"));
    const g = document.querySelector('#tree g.node[data-node="' + id + '"]');
    if (g) g.focus({ preventScroll: true });
    $("panel-title").textContent = node.title;
    $("panel-size").textContent = node.size.toLocaleString("en-US");
    $("panel-fraction").textContent = fmt(100 * node.fraction, 1) + " %";
    $("panel-purity").textContent = node.purity !== null ? fmt(100 * node.purity, 1) + " %"
      : node.class_counts === null ? "– (no labels)" : "– (no labelled members)";
    $("panel-majority").textContent = node.majority === null ? "–" : node.majority;
    $("panel-confidence").textContent = fmt(node.routing_confidence, 3);
    $("panel-children").textContent = node.children.length
      ? node.children.map((c) => nodes.get(c).title).join(", ") : "none";
    histogram(node);
    setImage($("panel-members"), $("panel-members-note"), node.members_image,
      node.size ? "no member images" + SEE_ABOVE : "no members: the node is empty");
    setImage($("panel-generations"), $("panel-generations-note"), node.generations_image,
      "no generations" + SEE_ABOVE);
    if (history.replaceState) history.replaceState(null, "", "#node-" + id);
  }

  document.querySelectorAll("[data-node]").forEach((el) => {
    el.addEventListener("click", () => select(Number(el.dataset.node)));
  });

  document.addEventListener("keydown", (event) => {
    const inTree = event.target.closest && event.target.closest("#tree");
    if (!inTree || current === null) return;
    const node = nodes.get(current);
    const siblings = node.parent === null ? [node.id] : nodes.get(node.parent).children;
    const at = siblings.indexOf(node.id);
    const moves = {
      ArrowUp: node.parent,
      ArrowDown: node.children.length ? node.children[0] : null,
      ArrowLeft: at > 0 ? siblings[at - 1] : null,
      ArrowRight: at < siblings.length - 1 ? siblings[at + 1] : null,
      Home: doc.root,
    };
    if (event.key in moves) {
      event.preventDefault();
      if (moves[event.key] !== null) select(moves[event.key]);
    }
  });

  const fromHash = /^#node-(\d+)$/.exec(location.hash);
  select(fromHash && nodes.has(Number(fromHash[1])) ? Number(fromHash[1]) : doc.root);
})();
