/* global Page, wx */
const { getClient } = require('../../utils/api');
const { createPointsLogic } = require('../../logic/points');
const { showError, toast } = require('../../utils/ui');

Page({
  data: { signedIn: false, tab: 'items', balance: 0, items: [], ledger: [], ledgerMore: false, redemptions: [], redeeming: '' },

  onLoad() {
    this.api = getClient();
    this.logic = createPointsLogic({ api: this.api });
    this.keys = {}; // item code → Idempotency-Key of the redemption being made
  },

  onShow() {
    const signedIn = this.api.isSignedIn();
    this.setData({ signedIn });
    if (signedIn) this.refresh();
  },

  onPullDownRefresh() {
    this.refresh().then(() => wx.stopPullDownRefresh());
  },

  async refresh() {
    try {
      const overview = await this.logic.overview();
      this.setData(overview);
      if (this.data.tab === 'ledger') await this.loadLedger(0);
      if (this.data.tab === 'redemptions') this.setData({ redemptions: await this.logic.redemptions() });
    } catch (err) {
      showError(err);
    }
  },

  async loadLedger(offset) {
    const page = await this.logic.ledger(offset);
    this.setData({ ledger: offset ? this.data.ledger.concat(page.items) : page.items, ledgerMore: page.more });
  },

  onTab(e) {
    this.setData({ tab: e.currentTarget.dataset.tab });
    this.refresh();
  },

  onMoreLedger() {
    this.loadLedger(this.data.ledger.length).catch(showError);
  },

  onRedeem(e) {
    const code = e.currentTarget.dataset.code;
    const item = this.data.items.find((i) => i.code === code);
    if (!item || !item.affordable || this.data.redeeming) return;
    wx.showModal({
      title: '确认兑换',
      content: `使用 ${item.points_cost} 积分兑换“${item.name}”？`,
      success: async (res) => {
        if (!res.confirm) return;
        this.keys[code] = this.keys[code] || this.api.newKey();
        this.setData({ redeeming: code });
        try {
          await this.logic.redeem(code, this.keys[code]);
          delete this.keys[code]; // done: the next tap is a new redemption
          toast('兑换成功');
          await this.refresh();
        } catch (err) {
          if (!err.offline && err.status !== 503) delete this.keys[code];
          showError(err);
        }
        this.setData({ redeeming: '' });
      },
    });
  },

  goLogin() {
    wx.navigateTo({ url: '/pages/login/index' });
  },
});
