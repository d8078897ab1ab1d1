/**
 * Where the API is, per build of the mini-program (wx.getAccountInfoSync().miniProgram.envVersion).
 * Set these to your domains before uploading a build (see docs/miniprogram.md). In WeChat DevTools a
 * different base URL can also be put in storage under "zhcg.baseUrl" without editing this file.
 */
module.exports = {
  baseUrls: {
    develop: 'http://127.0.0.1:8000', // `make run`; tick 「不校验合法域名」 in DevTools
    trial: 'https://zhcg-test.example.gov.cn',
    release: 'https://zhcg.example.gov.cn',
  },
  timeoutMs: 15000,
  uploadTimeoutMs: 60000,
  retries: 2,
  // the demo city (新余市渝水区) when location is refused
  defaultCenter: { lng: 114.9216, lat: 27.8156 },
};
