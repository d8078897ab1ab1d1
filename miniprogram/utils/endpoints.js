/**
 * Every call the mini-program makes to the public API, in one place.
 *
 * The API client refuses to send a query parameter, header or body field that is not declared here,
 * and the contract tests (tests/contract.test.js in jest, tests/miniprogram/test_contract.py in
 * pytest) check every declaration against the backend's OpenAPI document: path, method, parameters,
 * body fields (and that every field the API requires is sent) and the response fields the pages read.
 *
 * - auth: 'citizen' (bearer token required), 'optional' (sent when signed in) or 'none'
 * - query / headers / body: what may be sent; params: the path's {placeholders}
 * - response: the fields the mini-program reads; "a.b" nests, "a[].b" reads the items of a list,
 *   "[].b" the items of a list answer
 * - idempotency: 'required' | 'optional' — an Idempotency-Key is made once per logical call and kept
 *   on every retry
 * - safe: true for calls that may be repeated without a key (GET, follow, unfollow)
 * - kind: 'json' (wx.request), 'upload' (wx.uploadFile, multipart field in `file`) or
 *   'download' (wx.downloadFile)
 */

const CASE_SUMMARY = ['case_no', 'status', 'category', 'description', 'address', 'reported_at'];
const CASE_VIEW = CASE_SUMMARY.concat([
  'timeline[].at',
  'timeline[].step',
  'timeline[].text',
  'report_photos[].upload_id',
  'handling_photos[].upload_id',
  'reply',
  'can_rate',
  'rating',
  'rating_comment',
]);
const PUBLIC_CASE = [
  'case_no',
  'category',
  'category_code',
  'status',
  'address',
  'description',
  'distance_m',
  'reported_at',
].map((f) => '[].' + f);
const TOKEN = ['token', 'expires_in', 'citizen.id', 'citizen.phone_masked'];
const PLACE = [
  'code',
  'kind',
  'kind_label',
  'name',
  'address',
  'lng',
  'lat',
  'distance_m',
  'open_hours',
  'open_now',
  'accessible',
  'baby_room',
  'ev_charging',
  'free',
  'fee_note',
  'capacity',
  'available_spaces',
  'availability_updated_at',
];
const FINE = [
  'decision_no',
  'status',
  'amount_fen',
  'amount_yuan',
  'late_days',
  'late_fee_fen',
  'late_fee_yuan',
  'total_fen',
  'total_yuan',
  'served_on',
  'due_on',
  'deferral_until',
  'instalment_note',
  'as_of',
];
const PAYMENT_STATUS = [
  'out_trade_no',
  'status',
  'amount_yuan',
  'fine_fen',
  'late_fee_fen',
  'paid_at',
  'receipt_no',
];

const endpoints = {
  // --- login and phone binding
  smsCode: {
    method: 'POST',
    path: '/api/v1/auth/sms-code',
    auth: 'none',
    body: ['phone'],
    response: ['expires_in', 'resend_after'],
  },
  phoneLogin: {
    method: 'POST',
    path: '/api/v1/auth/phone',
    auth: 'none',
    body: ['phone', 'code'],
    response: TOKEN,
  },
  wechatLogin: {
    method: 'POST',
    path: '/api/v1/auth/wechat',
    auth: 'none',
    body: ['code'],
    response: TOKEN,
  },
  bindPhone: {
    method: 'POST',
    path: '/api/v1/auth/wechat/bind-phone',
    auth: 'citizen',
    body: ['phone', 'code'],
    response: TOKEN,
  },

  // --- reporting a problem
  categories: {
    method: 'GET',
    path: '/api/v1/categories',
    auth: 'none',
    safe: true,
    response: ['[].code', '[].name', '[].children[].code', '[].children[].name', '[].children[].hints'],
  },
  upload: {
    method: 'POST',
    path: '/api/v1/uploads',
    auth: 'citizen',
    kind: 'upload',
    file: 'file',
    response: ['id', 'status', 'exif.lng', 'exif.lat'],
  },
  photo: {
    method: 'GET',
    path: '/api/v1/uploads/{upload_id}/{variant}',
    auth: 'citizen',
    kind: 'download',
    safe: true,
    params: ['upload_id', 'variant'],
  },
  locate: {
    method: 'GET',
    path: '/api/v1/geo/locate',
    auth: 'none',
    safe: true,
    query: ['lng', 'lat', 'coord'],
    response: ['street.name', 'community.name'],
  },
  nearbyReports: {
    method: 'GET',
    path: '/api/v1/reports/nearby',
    auth: 'none',
    safe: true,
    query: ['lng', 'lat', 'coord', 'radius', 'limit'],
    response: PUBLIC_CASE.concat(['[].lng', '[].lat']),
  },
  duplicates: {
    method: 'GET',
    path: '/api/v1/reports/duplicates',
    auth: 'none',
    safe: true,
    query: ['lng', 'lat', 'coord', 'category'],
    response: PUBLIC_CASE,
  },
  report: {
    method: 'POST',
    path: '/api/v1/reports',
    auth: 'citizen',
    idempotency: 'required',
    headers: ['Idempotency-Key', 'X-Device-Id'],
    body: ['category', 'description', 'lng', 'lat', 'coord', 'address', 'upload_ids', 'anonymous', 'channel'],
    response: ['case_no', 'status', 'category'],
  },
  subscriptions: {
    method: 'GET',
    path: '/api/v1/wechat/subscriptions',
    auth: 'citizen',
    safe: true,
    response: ['templates[].template_id', 'templates[].events', 'templates[].available'],
  },
  recordSubscriptions: {
    method: 'POST',
    path: '/api/v1/wechat/subscriptions',
    auth: 'citizen',
    safe: true, // counting the same "accept" twice only allows one more message: harmless
    freeBody: true, // the raw answer of wx.requestSubscribeMessage, keyed by template id
    response: ['templates[].template_id', 'templates[].available'],
  },

  // --- my cases
  myReports: {
    method: 'GET',
    path: '/api/v1/reports/mine',
    auth: 'citizen',
    safe: true,
    query: ['limit', 'offset'],
    response: ['total'].concat(CASE_SUMMARY.map((f) => 'items[].' + f)),
  },
  following: {
    method: 'GET',
    path: '/api/v1/reports/following',
    auth: 'citizen',
    safe: true,
    query: ['limit', 'offset'],
    response: ['total'].concat(CASE_SUMMARY.map((f) => 'items[].' + f)),
  },
  caseDetail: {
    method: 'GET',
    path: '/api/v1/reports/{case_no}',
    auth: 'citizen',
    safe: true,
    params: ['case_no'],
    response: CASE_VIEW,
  },
  follow: {
    method: 'POST',
    path: '/api/v1/reports/{case_no}/follow',
    auth: 'citizen',
    safe: true,
    params: ['case_no'],
    response: ['case_no', 'status'],
  },
  unfollow: {
    method: 'DELETE',
    path: '/api/v1/reports/{case_no}/follow',
    auth: 'citizen',
    safe: true,
    params: ['case_no'],
  },
  rate: {
    method: 'POST',
    path: '/api/v1/reports/{case_no}/rating',
    auth: 'citizen',
    params: ['case_no'],
    body: ['stars', 'comment'],
    response: CASE_VIEW,
  },

  // --- points
  balance: {
    method: 'GET',
    path: '/api/v1/rewards/balance',
    auth: 'citizen',
    safe: true,
    response: ['balance'],
  },
  ledger: {
    method: 'GET',
    path: '/api/v1/rewards/ledger',
    auth: 'citizen',
    safe: true,
    query: ['limit', 'offset'],
    response: ['total', 'items[].points', 'items[].reason_label', 'items[].note', 'items[].at'],
  },
  rewardItems: {
    method: 'GET',
    path: '/api/v1/rewards/items',
    auth: 'none',
    safe: true,
    response: ['[].code', '[].name', '[].kind', '[].points_cost', '[].in_stock'],
  },
  redeem: {
    method: 'POST',
    path: '/api/v1/rewards/redemptions',
    auth: 'citizen',
    idempotency: 'required',
    headers: ['Idempotency-Key'],
    body: ['item'],
    response: ['id', 'item', 'points', 'status', 'at'],
  },
  redemptions: {
    method: 'GET',
    path: '/api/v1/rewards/redemptions',
    auth: 'citizen',
    safe: true,
    response: ['[].id', '[].item', '[].points', '[].status', '[].at'],
  },

  // --- toilets and parking
  places: {
    method: 'GET',
    path: '/api/v1/places',
    auth: 'none',
    safe: true,
    query: ['kind', 'lng', 'lat', 'coord', 'limit', 'open_now', 'accessible'],
    response: PLACE.map((f) => 'items[].' + f),
  },

  // --- fines
  fineLookup: {
    method: 'GET',
    path: '/api/v1/fines/lookup',
    auth: 'none',
    safe: true,
    query: ['decision_no', 'party_name'],
    response: FINE,
  },
  createPayment: {
    method: 'POST',
    path: '/api/v1/fines/{decision_no}/payments',
    auth: 'optional',
    idempotency: 'required',
    params: ['decision_no'],
    headers: ['Idempotency-Key'],
    body: ['channel', 'client', 'party_name'],
    response: [
      'out_trade_no',
      'status',
      'amount_fen',
      'amount_yuan',
      'fine_fen',
      'late_fee_fen',
      'expires_at',
      'wechat.appId',
      'wechat.timeStamp',
      'wechat.nonceStr',
      'wechat.package',
      'wechat.signType',
      'wechat.paySign',
    ],
  },
  paymentStatus: {
    method: 'GET',
    path: '/api/v1/payments/{out_trade_no}',
    auth: 'none',
    safe: true,
    params: ['out_trade_no'],
    response: PAYMENT_STATUS,
  },
  receiptPdf: {
    method: 'GET',
    path: '/api/v1/payments/{out_trade_no}/receipt.pdf',
    auth: 'optional',
    kind: 'download',
    safe: true,
    params: ['out_trade_no'],
    headers: ['X-Party-Name'],
  },
  myPayments: {
    method: 'GET',
    path: '/api/v1/me/payments',
    auth: 'citizen',
    safe: true,
    query: ['limit', 'offset'],
    response: [
      'total',
      'items[].out_trade_no',
      'items[].decision_no',
      'items[].status',
      'items[].amount_yuan',
      'items[].created_at',
      'items[].paid_at',
      'items[].receipt_no',
    ],
  },
};

module.exports = endpoints;
