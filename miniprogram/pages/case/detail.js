/* global Page, wx */
// The page a subscribe message opens: pages/case/detail?no={case_no} (core/settings.py SubscribeTemplate.page)
const { getClient } = require('../../utils/api');
const { createCasesLogic } = require('../../logic/cases');
const { showError, toast } = require('../../utils/ui');

Page({
  data: { caseNo: '', c: null, reportPhotos: [], handlingPhotos: [], stars: 0, comment: '', rating: false, following: false, isNew: false },

  onLoad(query) {
    this.api = getClient();
    this.logic = createCasesLogic({ api: this.api });
    this.setData({ caseNo: query.no || '', following: query.following === '1', isNew: query.new === '1' });
  },

  onShow() {
    if (!this.api.isSignedIn()) {
      wx.navigateTo({ url: '/pages/login/index' }); // e.g. opened from a subscribe message
      return;
    }
    if (this.data.caseNo) this.load();
  },

  onPullDownRefresh() {
    this.load().then(() => wx.stopPullDownRefresh());
  },

  async load() {
    try {
      const c = await this.logic.detail(this.data.caseNo);
      this.setData({ c });
      const [reportPhotos, handlingPhotos] = await Promise.all([
        this.logic.photoPaths(c.reportPhotoIds),
        this.logic.photoPaths(c.handlingPhotoIds),
      ]);
      this.setData({ reportPhotos, handlingPhotos });
    } catch (err) {
      showError(err);
    }
  },

  async onPreview(e) {
    const { stage, index } = e.currentTarget.dataset;
    const ids = stage === 'handling' ? this.data.c.handlingPhotoIds : this.data.c.reportPhotoIds;
    wx.showLoading({ title: '加载中' });
    const urls = (await this.logic.photoPaths(ids, 'display')).filter(Boolean);
    wx.hideLoading();
    if (urls.length) wx.previewImage({ urls, current: urls[Math.min(Number(index), urls.length - 1)] });
  },

  onStar(e) {
    this.setData({ stars: Number(e.currentTarget.dataset.stars) });
  },

  onComment(e) {
    this.setData({ comment: e.detail.value });
  },

  async onRate() {
    if (this.data.rating) return;
    this.setData({ rating: true });
    try {
      const c = await this.logic.rate(this.data.caseNo, this.data.stars, this.data.comment);
      this.setData({ c });
      toast('感谢您的评价');
    } catch (err) {
      showError(err);
    }
    this.setData({ rating: false });
  },

  async onUnfollow() {
    try {
      await this.logic.unfollow(this.data.caseNo);
      toast('已取消关注');
      setTimeout(() => wx.navigateBack(), 600);
    } catch (err) {
      showError(err);
    }
  },
});
