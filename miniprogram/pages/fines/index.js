/* global Page, wx */
const { getClient } = require('../../utils/api');
const { createFinesLogic } = require('../../logic/fines');
const { showError, toast } = require('../../utils/ui');

Page({
  data: { decisionNo: '', partyName: '', fine: null, looking: false, paying: false, result: null, pendingOrder: '', history: [], signedIn: false },

  onLoad(query) {
    this.api = getClient();
    this.logic = createFinesLogic({ api: this.api, wx });
    this.keys = {}; // decision number → Idempotency-Key of the order being made
    this.setData({ decisionNo: query.no || '', signedIn: this.api.isSignedIn() });
  },

  onShow() {
    if (this.api.isSignedIn()) {
      this.logic
        .history()
        .then((h) => this.setData({ history: h.items, signedIn: true }))
        .catch(() => {});
    }
  },

  onDecisionNo(e) {
    this.setData({ decisionNo: e.detail.value });
  },
  onPartyName(e) {
    this.setData({ partyName: e.detail.value });
  },

  async onLookup() {
    if (this.data.looking) return;
    this.setData({ looking: true, fine: null, result: null });
    try {
      this.setData({ fine: await this.logic.lookup(this.data.decisionNo, this.data.partyName) });
    } catch (err) {
      showError(err);
    }
    this.setData({ looking: false });
  },

  async onPay() {
    const fine = this.data.fine;
    if (!fine || !fine.payable || this.data.paying) return;
    if (!this.api.isSignedIn()) {
      wx.navigateTo({ url: '/pages/login/index' }); // WeChat Pay needs the payer's openid: sign in by WeChat
      return;
    }
    const no = fine.decision_no;
    this.keys[no] = this.keys[no] || this.api.newKey();
    this.setData({ paying: true });
    try {
      const result = await this.logic.pay(fine, this.data.partyName, this.keys[no]);
      this.setData({ pendingOrder: result.paid || result.cancelled ? '' : result.order.out_trade_no });
      if (result.paid) {
        delete this.keys[no];
        toast('缴款成功');
        this.setData({ result: result.status, 'fine.payable': false, 'fine.statusLabel': '已缴纳' });
      } else if (result.cancelled) {
        wx.showToast({ title: '已取消支付', icon: 'none' });
      } else {
        this.setData({ result: result.status });
        wx.showModal({ title: '支付处理中', content: '支付结果确认中，请稍后在“缴费记录”中查看。', showCancel: false });
      }
    } catch (err) {
      if (err.order) this.setData({ pendingOrder: err.order.out_trade_no });
      showError(err);
    }
    this.setData({ paying: false });
  },

  /** After paying elsewhere (or a payment sheet that failed): ask the order's status again. */
  async onCheckPayment() {
    try {
      const status = await this.logic.confirm(this.data.pendingOrder, 1);
      this.setData({ result: status });
      if (status.status === 'paid') {
        this.setData({ pendingOrder: '', 'fine.payable': false, 'fine.statusLabel': '已缴纳' });
        toast('缴款成功');
      } else {
        wx.showToast({ title: `订单${status.statusLabel}`, icon: 'none' });
      }
    } catch (err) {
      showError(err);
    }
  },

  async onReceipt(e) {
    const outTradeNo = e.currentTarget.dataset.no;
    try {
      await this.logic.openReceipt(outTradeNo, this.data.partyName);
    } catch (err) {
      showError(err, '无法打开缴款凭证');
    }
  },
});
