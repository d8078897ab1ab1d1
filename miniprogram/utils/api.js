/**
 * The API client: one `call(name, …)` per declared endpoint (utils/endpoints.js).
 *
 * - base URL from config.js (per build: develop / trial / release), bearer token kept in storage
 * - only declared parameters, headers and body fields are sent (the contract tests check those)
 * - safe calls, and calls with an Idempotency-Key, are retried on network errors, 502/503/504 and
 *   "retry later" conflicts; the same key is sent on every try so the server does the work once
 * - every failure is an ApiError with a friendly Chinese `message` (utils/errors.js)
 */

const endpoints = require('./endpoints');
const { messageFor, NETWORK_MESSAGE } = require('./errors');

const TOKEN_KEY = 'zhcg.token';
const DEVICE_KEY = 'zhcg.deviceId';

// 503s that no retry will fix
const PERMANENT_UNAVAILABLE = new Set(['wechat_not_configured', 'provider_not_configured', 'grids_not_loaded']);
// 409s the server answers while the same request is still being worked on
const RETRY_LATER = new Set(['payment_in_progress', 'redemption_in_progress', 'busy']);

class ApiError extends Error {
  constructor({ status = 0, code = 'network_error', message, details = null, errors = null, offline = false }) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.errors = errors;
    this.offline = offline;
  }
}

function randomHex(n) {
  let out = '';
  for (let i = 0; i < n; i += 1) out += Math.floor(Math.random() * 16).toString(16);
  return out;
}

/** A new Idempotency-Key (the API accepts 8–64 of [A-Za-z0-9_-:.]). */
function newKey(now = Date.now()) {
  return `mp-${now.toString(36)}-${randomHex(16)}`;
}

function resolveBaseUrl(wx, config) {
  let env = 'release';
  try {
    env = (wx.getAccountInfoSync && wx.getAccountInfoSync().miniProgram.envVersion) || 'release';
  } catch (e) {
    env = 'release';
  }
  const override = safeGet(wx, 'zhcg.baseUrl');
  const base = override || (config.baseUrls && config.baseUrls[env]) || config.baseUrl;
  return String(base || '').replace(/\/+$/, '');
}

function safeGet(wx, key) {
  try {
    return wx.getStorageSync(key);
  } catch (e) {
    return '';
  }
}

function queryString(query) {
  const parts = [];
  Object.keys(query || {}).forEach((k) => {
    const v = query[k];
    if (v === undefined || v === null || v === '') return;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  });
  return parts.length ? `?${parts.join('&')}` : '';
}

function fillPath(ep, params) {
  return ep.path.replace(/\{(\w+)\}/g, (_, name) => {
    const value = params && params[name];
    if (value === undefined || value === null || value === '') {
      throw new Error(`missing path parameter ${name} for ${ep.path}`);
    }
    return encodeURIComponent(String(value));
  });
}

function undeclared(given, declared) {
  return Object.keys(given || {}).filter((k) => (declared || []).indexOf(k) < 0);
}

function headerValue(headers, name) {
  if (!headers) return undefined;
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  return key ? headers[key] : undefined;
}

function parseBody(data) {
  if (typeof data !== 'string') return data;
  try {
    return JSON.parse(data);
  } catch (e) {
    return data;
  }
}

function createClient(options) {
  const wx = options.wx;
  const config = options.config || {};
  const retries = config.retries == null ? 2 : config.retries;
  const sleep = options.sleep || ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  const onUnauthorized = options.onUnauthorized || (() => {});
  const baseUrl = options.baseUrl || resolveBaseUrl(wx, config);

  function getToken() {
    const saved = safeGet(wx, TOKEN_KEY);
    if (!saved || !saved.token) return null;
    if (saved.expiresAt && saved.expiresAt <= Date.now()) return null;
    return saved.token;
  }

  function saveToken(answer) {
    const expiresAt = Date.now() + Math.max(0, (answer.expires_in || 0) - 60) * 1000;
    wx.setStorageSync(TOKEN_KEY, { token: answer.token, expiresAt, citizen: answer.citizen || null });
  }

  function clearToken() {
    try {
      wx.removeStorageSync(TOKEN_KEY);
    } catch (e) {
      /* nothing stored */
    }
  }

  function citizen() {
    const saved = safeGet(wx, TOKEN_KEY);
    return saved && saved.citizen ? saved.citizen : null;
  }

  function deviceId() {
    let id = safeGet(wx, DEVICE_KEY);
    if (!id) {
      id = `wx${randomHex(30)}`;
      wx.setStorageSync(DEVICE_KEY, id);
    }
    return id;
  }

  function prepare(name, opts) {
    const ep = endpoints[name];
    if (!ep) throw new Error(`unknown endpoint ${name}`);
    const o = opts || {};
    const badQuery = undeclared(o.query, ep.query);
    const badHeaders = undeclared(o.header, ep.headers);
    const badBody = ep.freeBody ? [] : undeclared(o.body, ep.body);
    const bad = badQuery.concat(badHeaders, badBody);
    if (bad.length) throw new Error(`${name}: not declared in endpoints.js: ${bad.join(', ')}`);

    const header = Object.assign({}, o.header);
    const token = getToken();
    if (ep.auth === 'citizen' && !token) {
      onUnauthorized();
      throw new ApiError({ status: 401, code: 'unauthorized', message: '请先登录' });
    }
    if (token && ep.auth !== 'none') header.Authorization = `Bearer ${token}`;
    let key = o.idempotencyKey;
    if (!key && ep.idempotency === 'required') key = newKey();
    if (key) header['Idempotency-Key'] = key;
    if ((ep.headers || []).indexOf('X-Device-Id') >= 0 && !header['X-Device-Id']) header['X-Device-Id'] = deviceId();
    const url = baseUrl + fillPath(ep, o.params) + queryString(o.query);
    return { ep, header, url, key };
  }

  function toError(name, ep, res) {
    if (!res || res.failed) {
      return new ApiError({ status: 0, code: 'network_error', message: NETWORK_MESSAGE, offline: true });
    }
    const problem = parseBody(res.data);
    const p = problem && typeof problem === 'object' ? problem : {};
    const code = p.code || `http_${res.statusCode}`;
    if (res.statusCode === 401 && code === 'unauthorized' && ep.auth !== 'none') {
      clearToken();
      onUnauthorized();
    }
    return new ApiError({
      status: res.statusCode,
      code,
      message: messageFor(p, res.statusCode),
      details: p.details || null,
      errors: p.errors || null,
    });
  }

  function retryable(ep, key, res) {
    if (!ep.safe && !key) return false;
    if (!res || res.failed) return true;
    const status = res.statusCode;
    const p = parseBody(res.data) || {};
    if (status === 502 || status === 504) return true;
    if (status === 503) return !PERMANENT_UNAVAILABLE.has(p.code);
    if (status === 409) return RETRY_LATER.has(p.code) || Boolean(p.details && p.details.retryable);
    return false;
  }

  function delay(attempt, res) {
    const after = res && !res.failed && Number(headerValue(res.header, 'Retry-After'));
    if (after && after > 0 && after <= 5) return after * 1000;
    return 500 * Math.pow(2, attempt);
  }

  async function withRetry(name, prepared, send) {
    const { ep, key } = prepared;
    let attempt = 0;
    for (;;) {
      const res = await send();
      if (!res.failed && res.statusCode >= 200 && res.statusCode < 300) return res;
      if (attempt < retries && retryable(ep, key, res)) {
        await sleep(delay(attempt, res));
        attempt += 1;
        continue;
      }
      throw toError(name, ep, res);
    }
  }

  function wxRequest(args) {
    return new Promise((resolve) => {
      wx.request(
        Object.assign({}, args, {
          timeout: config.timeoutMs || 15000,
          success: (res) => resolve(res),
          fail: (err) => resolve({ failed: true, errMsg: err && err.errMsg }),
        })
      );
    });
  }

  /** Calls a JSON endpoint; resolves with the parsed answer (null for 204). */
  async function call(name, opts) {
    const prepared = prepare(name, opts);
    const { ep, header, url } = prepared;
    if (ep.kind && ep.kind !== 'json') throw new Error(`${name} is a ${ep.kind} endpoint`);
    const body = opts && opts.body;
    if (body !== undefined) header['Content-Type'] = 'application/json';
    const res = await withRetry(name, prepared, () =>
      wxRequest({ url, method: ep.method, header, data: body === undefined ? undefined : body })
    );
    return res.statusCode === 204 ? null : parseBody(res.data);
  }

  /** Uploads one local file (wx.uploadFile); resolves with the parsed answer. */
  async function upload(name, filePath, opts) {
    const prepared = prepare(name, opts);
    const { ep, header, url } = prepared;
    const res = await withRetry(
      name,
      Object.assign({}, prepared, { key: prepared.key || 'upload' }), // a repeated photo is harmless
      () =>
        new Promise((resolve) => {
          wx.uploadFile({
            url,
            filePath,
            name: ep.file,
            header,
            timeout: config.uploadTimeoutMs || 60000,
            success: (r) => resolve(r),
            fail: (err) => resolve({ failed: true, errMsg: err && err.errMsg }),
          });
        })
    );
    return parseBody(res.data);
  }

  /** Downloads a file answer (wx.downloadFile, with the bearer token); resolves with its temp path. */
  async function download(name, opts) {
    const prepared = prepare(name, opts);
    const { header, url } = prepared;
    const res = await withRetry(
      name,
      prepared,
      () =>
        new Promise((resolve) => {
          wx.downloadFile({
            url,
            header,
            success: (r) => resolve(r),
            fail: (err) => resolve({ failed: true, errMsg: err && err.errMsg }),
          });
        })
    );
    return res.tempFilePath;
  }

  return {
    baseUrl,
    call,
    upload,
    download,
    newKey,
    getToken,
    saveToken,
    clearToken,
    citizen,
    deviceId,
    isSignedIn: () => Boolean(getToken()),
  };
}

let shared = null;

/** The app-wide client (pages use this; tests build their own with createClient). */
function getClient() {
  if (!shared) {
    /* global wx, getApp */
    shared = createClient({
      wx,
      config: require('../config'),
      onUnauthorized: () => {
        const app = typeof getApp === 'function' ? getApp() : null;
        if (app && app.requireLogin) app.requireLogin();
      },
    });
  }
  return shared;
}

module.exports = { createClient, getClient, ApiError, newKey, queryString, TOKEN_KEY, DEVICE_KEY };
