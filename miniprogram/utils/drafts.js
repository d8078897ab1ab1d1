/**
 * Offline-safe report drafts: a report that could not be sent (no network, server unavailable) is
 * kept in storage with its photos saved to the user's file space and its Idempotency-Key, and sent
 * later with the same key (so a report that did reach the server before the connection dropped is
 * not filed twice).
 */
const KEY = 'zhcg.drafts';

function createDrafts({ wx, now = () => Date.now() }) {
  function list() {
    try {
      const saved = wx.getStorageSync(KEY);
      return Array.isArray(saved) ? saved : [];
    } catch (e) {
      return [];
    }
  }

  function write(all) {
    wx.setStorageSync(KEY, all);
  }

  /** Copies a temporary photo to the user's file space so it survives until the draft is sent. */
  function persistPhoto(path) {
    try {
      const fs = wx.getFileSystemManager();
      return fs.saveFileSync(path) || path;
    } catch (e) {
      return path;
    }
  }

  function removeFile(path) {
    try {
      wx.getFileSystemManager().unlinkSync(path);
    } catch (e) {
      /* already gone */
    }
  }

  function save(draft) {
    const all = list();
    const photos = (draft.photos || []).map((p) =>
      p.uploadId || p.persisted ? p : Object.assign({}, p, { path: persistPhoto(p.path), persisted: true })
    );
    const stored = Object.assign({ status: 'pending', error: '', createdAt: now() }, draft, { photos });
    const i = all.findIndex((d) => d.id === draft.id);
    if (i >= 0) all[i] = Object.assign({}, all[i], stored);
    else all.push(stored);
    write(all);
    return stored;
  }

  function get(id) {
    return list().find((d) => d.id === id) || null;
  }

  function remove(id) {
    const all = list();
    const gone = all.find((d) => d.id === id);
    if (gone) (gone.photos || []).filter((p) => p.persisted).forEach((p) => removeFile(p.path));
    write(all.filter((d) => d.id !== id));
  }

  function pending() {
    return list().filter((d) => d.status === 'pending');
  }

  return { list, save, get, remove, pending };
}

module.exports = { createDrafts, KEY };
