/** The category tree (majors → minors with their register-condition hints) for search and picking. */

function flatten(tree) {
  const out = [];
  (tree || []).forEach((major) => {
    (major.children || []).forEach((minor) => {
      out.push({
        code: minor.code,
        name: minor.name,
        major: major.name,
        hints: minor.hints || [],
      });
    });
  });
  return out;
}

/** Minors whose name, code, major or hints contain every word of the query; names first. */
function search(flat, query, limit = 50) {
  const words = String(query || '')
    .trim()
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean);
  if (!words.length) return flat.slice(0, limit);
  const scored = [];
  flat.forEach((c) => {
    const name = c.name.toLowerCase();
    const hay = [c.code.toLowerCase(), name, c.major.toLowerCase()].concat(c.hints.map((h) => h.toLowerCase()));
    if (!words.every((w) => hay.some((h) => h.indexOf(w) >= 0))) return;
    const score = words.every((w) => name.indexOf(w) >= 0) ? 0 : words.every((w) => hay.slice(0, 3).some((h) => h.indexOf(w) >= 0)) ? 1 : 2;
    scored.push({ c, score });
  });
  scored.sort((a, b) => a.score - b.score);
  return scored.slice(0, limit).map((s) => s.c);
}

const CACHE_KEY = 'zhcg.categories';
const CACHE_MS = 24 * 3600 * 1000;

/** The tree from storage when fresh (a day), else from the API (and stored). */
async function load(api, wx, now = Date.now()) {
  try {
    const cached = wx.getStorageSync(CACHE_KEY);
    if (cached && cached.at && now - cached.at < CACHE_MS && Array.isArray(cached.tree)) return cached.tree;
  } catch (e) {
    /* no cache */
  }
  try {
    const tree = await api.call('categories');
    wx.setStorageSync(CACHE_KEY, { at: now, tree });
    return tree;
  } catch (err) {
    const stale = wx.getStorageSync(CACHE_KEY);
    if (stale && Array.isArray(stale.tree)) return stale.tree; // offline: the last known list
    throw err;
  }
}

module.exports = { flatten, search, load, CACHE_KEY };
