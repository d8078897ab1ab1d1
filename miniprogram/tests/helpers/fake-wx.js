/**
 * A fake of the `wx` object: storage in memory, and wx.request / uploadFile / downloadFile answered by
 * a `server(req)` function the test gives (return {statusCode, data, header} or 'fail' for a network
 * error). Every call is recorded in `calls`.
 */
function fakeWx(options = {}) {
  const store = new Map();
  const calls = { request: [], uploadFile: [], downloadFile: [], other: [] };
  let server = options.server || (() => ({ statusCode: 404, data: { code: 'not_found', message: '请求的资源不存在' } }));
  const saved = new Map();
  let savedCount = 0;

  function answer(kind, req, success, fail) {
    calls[kind].push(req);
    const res = server(Object.assign({ kind }, req));
    Promise.resolve(res).then((r) => {
      if (r === 'fail' || r === undefined) fail({ errMsg: `${kind}:fail` });
      else success(Object.assign({ header: {} }, r));
    });
  }

  const wx = {
    calls,
    store,
    saved,
    setServer(fn) {
      server = fn;
    },
    getStorageSync: (k) => (store.has(k) ? JSON.parse(JSON.stringify(store.get(k))) : ''),
    setStorageSync: (k, v) => store.set(k, JSON.parse(JSON.stringify(v))),
    removeStorageSync: (k) => store.delete(k),
    getAccountInfoSync: () => ({ miniProgram: { envVersion: options.env || 'develop' } }),
    request(o) {
      const req = { url: o.url, method: o.method, header: o.header, data: o.data };
      answer('request', req, o.success, o.fail);
    },
    uploadFile(o) {
      const req = { url: o.url, filePath: o.filePath, name: o.name, header: o.header };
      answer('uploadFile', req, (r) => o.success(Object.assign({}, r, { data: JSON.stringify(r.data) })), o.fail);
    },
    downloadFile(o) {
      answer('downloadFile', { url: o.url, header: o.header }, o.success, o.fail);
    },
    compressImage(o) {
      calls.other.push({ api: 'compressImage', src: o.src, quality: o.quality });
      if (options.compressFails) o.fail({ errMsg: 'compressImage:fail' });
      else o.success({ tempFilePath: `${o.src}.compressed.jpg` });
    },
    login(o) {
      calls.other.push({ api: 'login' });
      o.success({ code: 'wx-code-1' });
    },
    getLocation(o) {
      calls.other.push({ api: 'getLocation', type: o.type });
      if (options.locationFails) o.fail({ errMsg: 'getLocation:fail auth deny' });
      else o.success({ longitude: 114.9216, latitude: 27.8156 });
    },
    requestSubscribeMessage(o) {
      calls.other.push({ api: 'requestSubscribeMessage', tmplIds: o.tmplIds });
      const result = { errMsg: 'requestSubscribeMessage:ok' };
      o.tmplIds.forEach((id) => {
        result[id] = 'accept';
      });
      o.success(result);
    },
    requestPayment(o) {
      calls.other.push({ api: 'requestPayment', params: o });
      if (options.paymentCancelled) o.fail({ errMsg: 'requestPayment:fail cancel' });
      else if (options.paymentFails) o.fail({ errMsg: 'requestPayment:fail' });
      else o.success({ errMsg: 'requestPayment:ok' });
    },
    openLocation(o) {
      calls.other.push({ api: 'openLocation', params: o });
      o.success({});
    },
    openDocument(o) {
      calls.other.push({ api: 'openDocument', params: o });
      o.success({});
    },
    getFileSystemManager() {
      return {
        saveFileSync(path) {
          savedCount += 1;
          const to = `wxfile://usr/saved-${savedCount}.jpg`;
          saved.set(to, path);
          return to;
        },
        unlinkSync(path) {
          saved.delete(path);
        },
      };
    },
  };
  return wx;
}

/** A JSON answer. */
function ok(data, statusCode = 200, header = {}) {
  return { statusCode, data, header };
}

function problem(statusCode, code, message, extra = {}) {
  return { statusCode, data: Object.assign({ code, message }, extra), header: {} };
}

module.exports = { fakeWx, ok, problem };
