/* global App, wx */
const { getClient } = require('./utils/api');
const { createDrafts } = require('./utils/drafts');
const { createReportLogic } = require('./logic/report');

App({
  globalData: { lastFlush: null },

  onLaunch() {
    wx.onNetworkStatusChange((res) => {
      if (res.isConnected) this.flushDrafts();
    });
  },

  onShow() {
    this.flushDrafts();
  },

  /** Sends reports kept while offline (utils/drafts.js). */
  flushDrafts() {
    const api = getClient();
    const drafts = createDrafts({ wx });
    if (!drafts.pending().length || !api.isSignedIn() || this._flushing) return Promise.resolve(null);
    this._flushing = true;
    return createReportLogic({ api, wx, drafts })
      .flushDrafts()
      .then((result) => {
        this.globalData.lastFlush = result;
        if (result.sent.length) wx.showToast({ title: `已补发 ${result.sent.length} 条上报`, icon: 'success' });
        return result;
      })
      .catch(() => null)
      .then((result) => {
        this._flushing = false;
        return result;
      });
  },

  /** Called by the API client when there is no valid token. */
  requireLogin() {
    const pages = getCurrentPages();
    const top = pages[pages.length - 1];
    if (top && top.route === 'pages/login/index') return;
    wx.navigateTo({ url: '/pages/login/index' });
  },
});
