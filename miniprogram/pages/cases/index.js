/* global Page, wx */
const { getClient } = require('../../utils/api');
const { createCasesLogic } = require('../../logic/cases');
const { showError } = require('../../utils/ui');

Page({
  data: { tab: 'mine', items: [], total: 0, more: false, loading: false, signedIn: false },

  onLoad() {
    this.api = getClient();
    this.logic = createCasesLogic({ api: this.api });
  },

  onShow() {
    const signedIn = this.api.isSignedIn();
    this.setData({ signedIn });
    if (signedIn) this.reload();
  },

  onPullDownRefresh() {
    this.reload().then(() => wx.stopPullDownRefresh());
  },

  onReachBottom() {
    if (this.data.more && !this.data.loading) this.load(this.data.items.length);
  },

  onTab(e) {
    this.setData({ tab: e.currentTarget.dataset.tab, items: [] });
    this.reload();
  },

  reload() {
    return this.load(0);
  },

  async load(offset) {
    this.setData({ loading: true });
    try {
      const page = await this.logic.page(this.data.tab, offset);
      this.setData({ items: offset ? this.data.items.concat(page.items) : page.items, total: page.total, more: page.more });
    } catch (err) {
      showError(err);
    }
    this.setData({ loading: false });
  },

  open(e) {
    const following = this.data.tab === 'following' ? '&following=1' : '';
    wx.navigateTo({ url: `/pages/case/detail?no=${e.currentTarget.dataset.no}${following}` });
  },

  goLogin() {
    wx.navigateTo({ url: '/pages/login/index' });
  },

  goReport() {
    wx.navigateTo({ url: '/pages/report/index' });
  },
});
