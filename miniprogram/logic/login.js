/** Login: WeChat one-tap (wx.login → /auth/wechat), phone + SMS code, and binding a phone. */

const PHONE = /^1[3-9]\d{9}$/;

function checkPhone(phone) {
  return PHONE.test(String(phone || '').trim()) ? '' : '请输入正确的 11 位手机号码';
}

function checkCode(code) {
  return /^\d{6}$/.test(String(code || '').trim()) ? '' : '请输入 6 位数字验证码';
}

function wxLoginCode(wx) {
  return new Promise((resolve, reject) => {
    wx.login({
      success: (r) => (r.code ? resolve(r.code) : reject(new Error('微信登录失败，请重试'))),
      fail: () => reject(new Error('微信登录失败，请重试')),
    });
  });
}

function createLoginLogic({ api, wx }) {
  async function wechat() {
    const code = await wxLoginCode(wx);
    const answer = await api.call('wechatLogin', { body: { code } });
    api.saveToken(answer);
    return answer.citizen;
  }

  async function sendCode(phone) {
    const bad = checkPhone(phone);
    if (bad) throw new Error(bad);
    return api.call('smsCode', { body: { phone: phone.trim() } }); // {expires_in, resend_after}
  }

  async function phone(phoneNo, code) {
    const bad = checkPhone(phoneNo) || checkCode(code);
    if (bad) throw new Error(bad);
    const answer = await api.call('phoneLogin', { body: { phone: phoneNo.trim(), code: code.trim() } });
    api.saveToken(answer);
    return answer.citizen;
  }

  async function bindPhone(phoneNo, code) {
    const bad = checkPhone(phoneNo) || checkCode(code);
    if (bad) throw new Error(bad);
    const answer = await api.call('bindPhone', { body: { phone: phoneNo.trim(), code: code.trim() } });
    api.saveToken(answer); // binding may merge into the phone's account: a new token
    return answer.citizen;
  }

  function needsPhone() {
    const c = api.citizen();
    return Boolean(c && !c.phone_masked);
  }

  function logout() {
    api.clearToken();
  }

  return { wechat, sendCode, phone, bindPhone, needsPhone, logout };
}

/** A resend countdown: `start(seconds)` then `tick()` every second; `label()` for the button. */
function countdown(seconds) {
  return { left: Math.max(0, Math.floor(seconds || 0)) };
}

function codeButtonLabel(state) {
  return state.left > 0 ? `${state.left} 秒后重发` : '获取验证码';
}

module.exports = { createLoginLogic, checkPhone, checkCode, countdown, codeButtonLabel };
