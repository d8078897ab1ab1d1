/* global Page, wx */
const { getClient } = require('../../utils/api');
const { createLoginLogic, countdown, codeButtonLabel } = require('../../logic/login');
const { showError, toast } = require('../../utils/ui');

Page({
  data: { mode: 'wechat', bind: false, phone: '', code: '', codeLabel: '获取验证码', waiting: false, busy: false, masked: '' },

  onLoad(query) {
    this.api = getClient();
    this.logic = createLoginLogic({ api: this.api, wx });
    const c = this.api.citizen();
    // ?bind=1, or signed in by WeChat without a phone: bind a phone
    const bind = query.bind === '1' || (this.api.isSignedIn() && this.logic.needsPhone());
    this.setData({ bind, mode: bind ? 'phone' : 'wechat', masked: (c && c.phone_masked) || '' });
  },

  onUnload() {
    clearInterval(this.timer);
  },

  onPhone(e) {
    this.setData({ phone: e.detail.value });
  },
  onCode(e) {
    this.setData({ code: e.detail.value });
  },
  usePhone() {
    this.setData({ mode: 'phone' });
  },
  useWechat() {
    this.setData({ mode: 'wechat' });
  },

  async onWechat() {
    if (this.data.busy) return;
    this.setData({ busy: true });
    try {
      const citizen = await this.logic.wechat();
      if (!citizen.phone_masked) {
        this.setData({ bind: true, mode: 'phone', busy: false });
        return;
      }
      this.done('登录成功');
    } catch (err) {
      if (err.code === 'wechat_not_configured') this.setData({ mode: 'phone' });
      showError(err);
    }
    this.setData({ busy: false });
  },

  async onSendCode() {
    if (this.data.waiting) return;
    try {
      const sent = await this.logic.sendCode(this.data.phone);
      this.startCountdown(sent.resend_after || 60);
      toast('验证码已发送');
    } catch (err) {
      if (err.details && err.details.retry_after) this.startCountdown(err.details.retry_after);
      showError(err);
    }
  },

  startCountdown(seconds) {
    clearInterval(this.timer);
    const state = countdown(seconds);
    this.setData({ waiting: state.left > 0, codeLabel: codeButtonLabel(state) });
    this.timer = setInterval(() => {
      state.left -= 1;
      this.setData({ waiting: state.left > 0, codeLabel: codeButtonLabel(state) });
      if (state.left <= 0) clearInterval(this.timer);
    }, 1000);
  },

  async onSubmit() {
    if (this.data.busy) return;
    this.setData({ busy: true });
    try {
      if (this.data.bind) await this.logic.bindPhone(this.data.phone, this.data.code);
      else await this.logic.phone(this.data.phone, this.data.code);
      this.done(this.data.bind ? '绑定成功' : '登录成功');
    } catch (err) {
      showError(err);
    }
    this.setData({ busy: false });
  },

  skipBind() {
    this.done('登录成功');
  },

  done(message) {
    toast(message);
    getApp().flushDrafts();
    setTimeout(() => {
      if (getCurrentPages().length > 1) wx.navigateBack();
      else wx.switchTab({ url: '/pages/home/index' });
    }, 600);
  },
});
