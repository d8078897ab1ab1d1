/* global Page, wx, getApp */
const { getClient } = require('../../utils/api');
const { createDrafts } = require('../../utils/drafts');
const config = require('../../config');
const categories = require('../../logic/categories');
const subscribe = require('../../logic/subscribe');
const { locate } = require('../../logic/location');
const { createReportLogic, emptyForm, validate, placeName, MAX_PHOTOS } = require('../../logic/report');
const { showError, toast } = require('../../utils/ui');

Page({
  data: {
    form: emptyForm(),
    photos: [],
    maxPhotos: MAX_PHOTOS,
    tree: [],
    center: config.defaultCenter,
    locationError: '',
    duplicates: [],
    nearby: [],
    errors: {},
    submitting: false,
    drafts: [],
    done: null,
  },

  onLoad() {
    this.api = getClient();
    this.drafts = createDrafts({ wx });
    this.logic = createReportLogic({ api: this.api, wx, drafts: this.drafts });
    this.templateIds = [];
    subscribe.loadTemplateIds(this.api).then((ids) => {
      this.templateIds = ids;
    });
    categories
      .load(this.api, wx)
      .then((tree) => this.setData({ tree }))
      .catch(showError);
    locate(wx, config.defaultCenter).then((p) => {
      this.setData({ center: { lng: p.lng, lat: p.lat } });
      this.setLocation(p.lng, p.lat);
      if (!p.located) this.setData({ locationError: '未能获取定位，请拖动地图把问题位置对准中心' });
    });
  },

  onReady() {
    this.mapCtx = wx.createMapContext('map', this);
  },

  onShow() {
    this.setData({ drafts: this.drafts ? this.drafts.list() : [] });
  },

  async setLocation(lng, lat) {
    this.setData({ 'form.lng': lng, 'form.lat': lat, 'errors.location': '' });
    const where = await placeName(this.api, lng, lat);
    const patch = { locationError: where.error };
    if (!this.data.form.address || this._autoAddress === this.data.form.address) {
      patch['form.address'] = where.address;
      this._autoAddress = where.address;
    }
    this.setData(patch);
    this.refreshDuplicates();
    this.logic
      .nearby(lng, lat)
      .then((nearby) => this.setData({ nearby }))
      .catch(() => this.setData({ nearby: [] }));
  },

  onRegionChange(e) {
    if (e.type !== 'end' || !this.mapCtx) return;
    this.mapCtx.getCenterLocation({
      success: (r) => this.setLocation(r.longitude, r.latitude),
    });
  },

  onLocateAgain() {
    locate(wx, config.defaultCenter).then((p) => {
      this.setData({ center: { lng: p.lng, lat: p.lat } });
      this.setLocation(p.lng, p.lat);
    });
  },

  onCategory(e) {
    this.setData({ 'form.category': e.detail.code, 'form.categoryName': e.detail.name, 'errors.category': '' });
    this.refreshDuplicates();
  },

  onDescription(e) {
    this.setData({ 'form.description': e.detail.value, 'errors.description': '' });
  },
  onAddress(e) {
    this.setData({ 'form.address': e.detail.value });
  },
  onAnonymous(e) {
    this.setData({ 'form.anonymous': e.detail.value });
  },

  refreshDuplicates() {
    this.logic
      .duplicates(this.data.form)
      .then((duplicates) => this.setData({ duplicates: duplicates || [] }))
      .catch(() => this.setData({ duplicates: [] }));
  },

  onAddPhoto() {
    const room = MAX_PHOTOS - this.data.photos.length;
    if (room <= 0) return;
    wx.chooseMedia({
      count: room,
      mediaType: ['image'],
      sourceType: ['camera', 'album'],
      sizeType: ['compressed'],
      success: async (res) => {
        wx.showLoading({ title: '正在上传照片' });
        for (const file of res.tempFiles) {
          try {
            const photo = await this.logic.addPhoto(file.tempFilePath);
            this.setData({ photos: this.data.photos.concat([photo]) });
          } catch (err) {
            showError(err);
          }
        }
        wx.hideLoading();
      },
    });
  },

  onRemovePhoto(e) {
    const photos = this.data.photos.slice();
    photos.splice(Number(e.currentTarget.dataset.index), 1);
    this.setData({ photos });
  },

  onPreview(e) {
    wx.previewImage({ current: e.currentTarget.dataset.path, urls: this.data.photos.map((p) => p.path) });
  },

  /** "我也遇到": follow the existing case instead of reporting it again. */
  onMeToo(e) {
    const caseNo = e.currentTarget.dataset.no;
    const consent = subscribe.ask(this.api, wx, this.templateIds); // in the tap, before anything else
    consent
      .then(() => this.logic.metoo(caseNo))
      .then(() => {
        toast('已关注该问题');
        wx.redirectTo({ url: `/pages/case/detail?no=${caseNo}&following=1` });
      })
      .catch(showError);
  },

  onSubmit() {
    if (this.data.submitting) return;
    const errors = validate(this.data.form, this.data.photos);
    if (Object.keys(errors).length) {
      this.setData({ errors });
      showError(new Error(errors[Object.keys(errors)[0]]));
      return;
    }
    if (!this.api.isSignedIn()) {
      wx.navigateTo({ url: '/pages/login/index' });
      return;
    }
    const consent = subscribe.ask(this.api, wx, this.templateIds); // must run in the tap's handler
    this.setData({ submitting: true });
    consent
      .then(() => this.logic.submit(this.data.form, this.data.photos, this._retrying || null))
      .then((result) => {
        this.setData({ submitting: false });
        if (result.case) {
          this.setData({ done: result.case, form: emptyForm(), photos: [], duplicates: [] });
          wx.redirectTo({ url: `/pages/case/detail?no=${result.case.case_no}&new=1` });
        } else {
          this.setData({ drafts: this.drafts.list() });
          wx.showModal({
            title: '已保存为草稿',
            content: '当前网络不可用，上报已保存在手机上，联网后会自动发送。',
            showCancel: false,
          });
        }
      })
      .catch((err) => {
        this.setData({ submitting: false, errors: err.fields || {} });
        showError(err);
      });
  },

  onSendDrafts() {
    getApp()
      .flushDrafts()
      .then(() => this.setData({ drafts: this.drafts.list() }));
  },

  onDeleteDraft(e) {
    this.drafts.remove(e.currentTarget.dataset.id);
    this.setData({ drafts: this.drafts.list() });
  },

  onEditDraft(e) {
    const draft = this.drafts.get(e.currentTarget.dataset.id);
    if (!draft) return;
    this._retrying = draft; // keeps the draft's Idempotency-Key
    this.setData({ form: draft.form, photos: draft.photos });
    if (draft.form.lng !== null) this.setData({ center: { lng: draft.form.lng, lat: draft.form.lat } });
  },
});
