const { createClient } = require('../../utils/api');

/** A client on a fake wx, signed in unless told otherwise, that never really sleeps. */
function client(wx, { signedIn = true, onUnauthorized, retries } = {}) {
  if (signedIn) {
    wx.setStorageSync('zhcg.token', {
      token: 'zc1.test',
      expiresAt: Date.now() + 3600 * 1000,
      citizen: { id: 1, phone_masked: '138****8000' },
    });
  }
  const sleeps = [];
  const api = createClient({
    wx,
    config: { baseUrls: { develop: 'http://api.test' }, retries: retries == null ? 2 : retries },
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    onUnauthorized,
  });
  api.sleeps = sleeps;
  return api;
}

module.exports = { client };
