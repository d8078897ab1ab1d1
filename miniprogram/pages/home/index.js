/* global Page, wx */
const { getClient } = require('../../utils/api');
const { createDrafts } = require('../../utils/drafts');
const home = require('../../logic/home');

Page({
  data: { signedIn: false, recent: [], balance: null, drafts: 0 },

  onShow() {
    this.refresh();
  },

  onPullDownRefresh() {
    this.refresh().then(() => wx.stopPullDownRefresh());
  },

  refresh() {
    return home.load({ api: getClient(), drafts: createDrafts({ wx }) }).then((data) => this.setData(data));
  },

  goReport() {
    wx.navigateTo({ url: '/pages/report/index' });
  },
  goToilets() {
    wx.navigateTo({ url: '/pages/places/index?kind=toilet' });
  },
  goParking() {
    wx.navigateTo({ url: '/pages/places/index?kind=parking' });
  },
  goFines() {
    wx.navigateTo({ url: '/pages/fines/index' });
  },
  goCases() {
    wx.switchTab({ url: '/pages/cases/index' });
  },
  goPoints() {
    wx.switchTab({ url: '/pages/points/index' });
  },
  goLogin() {
    wx.navigateTo({ url: '/pages/login/index' });
  },
  openCase(e) {
    wx.navigateTo({ url: `/pages/case/detail?no=${e.currentTarget.dataset.no}` });
  },
});
