/**
 * Friendly Chinese messages for the API's stable error codes (api/errors.py and the DomainError
 * codes of core/ and payments/). A code missing here falls back to the API's own Chinese message,
 * then to a message by HTTP status. The contract test checks every code listed here still exists in
 * the backend, so this table cannot keep codes the API no longer answers.
 */

function wait(details) {
  const seconds = details && Number(details.retry_after);
  if (!seconds || seconds <= 0) return '稍后';
  if (seconds < 60) return ` ${seconds} 秒后`;
  return ` ${Math.ceil(seconds / 60)} 分钟后`;
}

const MESSAGES = {
  // api/errors.py: HTTP-level and validation problems
  bad_request: '请求格式不正确，请更新小程序后重试',
  unauthorized: '登录已失效，请重新登录',
  forbidden: '没有权限执行此操作',
  not_found: '请求的内容不存在',
  method_not_allowed: '请求方式不正确，请更新小程序后重试',
  payload_too_large: '内容过大，请压缩后再试',
  too_many_requests: '操作过于频繁，请稍后再试',
  internal_error: '服务器开小差了，请稍后再试',
  citizen_only: '请使用市民账号登录',

  // login (core/citizens)
  invalid_phone: '请输入正确的 11 位手机号码',
  sms_rate_limited: (d) => `验证码发送过于频繁，请${wait(d)}再试`,
  sms_unavailable: '短信服务暂时不可用，请稍后再试',
  sms_code_invalid: (d) =>
    d && d.remaining_attempts != null
      ? `验证码不正确，还可以再试 ${d.remaining_attempts} 次`
      : '验证码不正确或已失效，请重新输入',
  sms_code_expired: '验证码已过期，请重新获取',
  sms_code_attempts_exceeded: '验证码输错次数过多，请重新获取',
  account_disabled: '该账号已停用，如有疑问请拨打 12319',
  wechat_code_invalid: '微信登录凭证已失效，请重新登录',
  wechat_rate_limited: '微信登录过于频繁，请稍后再试',
  wechat_user_blocked: '该微信账号存在风险，暂时无法登录，请使用手机号登录',
  wechat_unavailable: '微信服务暂时不可用，请稍后重试',
  wechat_not_configured: '暂未开通微信登录，请使用手机号登录',
  wechat_not_bound: '请先使用微信登录后再订阅消息',
  phone_taken: '该手机号已绑定其他微信账号',
  phone_already_bound: '您的账号已绑定其他手机号',

  // photos (core/uploads)
  upload_no_file: '没有收到照片，请重新选择',
  upload_empty: '照片是空的，请重新选择',
  upload_too_large: '照片太大了，请重新拍摄或选择较小的照片',
  upload_not_image: '只能上传 JPEG、PNG、WebP 或 HEIC 格式的照片',
  upload_corrupt: '照片已损坏或不完整，请重新拍摄',
  upload_too_many_pixels: '照片像素过多，请缩小后再上传',
  upload_not_found: '照片已失效，请重新上传',
  upload_failed: '照片处理失败，请删除后重新上传',
  storage_unavailable: '照片存储暂不可用，请稍后再试',
  storage_full: '照片存储空间已满，暂时无法保存照片，请稍后再试',
  photo_not_found: '照片不存在或尚未处理完成',

  // reports and cases (core/cases, core/geo)
  unknown_category: '所选问题类别已停用，请重新选择',
  description_too_short: null, // the API's message says how many characters are needed
  description_too_long: null,
  outside_service_area: '该位置不在城市管理服务范围内，请在地图上调整位置',
  invalid_coordinates: '定位不正确，请重新定位',
  grids_not_loaded: '系统正在准备地图数据，请稍后再试',
  idempotency_key_reused: '提交信息有变化，请重新提交',
  report_rate_limited: '您今天上报得太频繁了，请稍后再试',
  device_rate_limited: '这台手机上报得太频繁了，请稍后再试',
  invalid_device_id: '设备标识异常，请重启小程序后再试',
  invalid_channel: '上报渠道不正确，请更新小程序',
  case_not_found: '没有找到该案件',
  case_not_open: '该问题已办结或已关闭，无需再关注',
  own_report: '这是您自己上报的问题，无需再关注',
  rating_not_open: '案件办结后才能评价',
  already_rated: '您已评价过该案件',
  rating_window_closed: '已超过评价期限',
  rating_invalid: '请选择 1 到 5 星',

  // subscribe messages (api/routes/subscriptions.py)
  too_many_templates: '订阅的消息太多了',
  invalid_template_id: '订阅消息模板不正确',
  invalid_subscribe_choice: '订阅选择不正确',

  // points (core/rewards)
  insufficient_points: '积分不足',
  out_of_stock: '该商品已兑完',
  reward_item_not_found: '该商品已下架',
  redemption_in_progress: '兑换正在处理中，请稍后查看“我的兑换”',
  busy: '系统繁忙，请稍后重试',

  // toilets and parking (core/places)
  place_not_found: '没有找到该设施',

  // fines and payments (payments/)
  fine_not_found: '未找到该决定书，请核对决定书编号和当事人姓名',
  fine_lookup_rate_limited: (d) => `查询过于频繁，请${wait(d)}再试`,
  fine_already_paid: '该罚款已缴纳，无需重复缴纳',
  fine_not_payable: '该决定书当前不可在线缴款，请联系执法部门',
  payer_required: '请先使用微信登录后再缴款',
  client_not_supported: '该支付方式暂不支持小程序',
  payment_in_progress: '正在创建支付订单，请稍后重试',
  provider_unavailable: '支付服务暂时无法下单，请稍后再试',
  provider_not_configured: '暂未开通在线缴款，请到执法窗口缴纳',
  payment_not_found: '未找到该支付订单',
  receipt_not_found: '未找到缴款凭证，请确认已支付成功',
};

const BY_STATUS = {
  400: '请求格式不正确',
  401: '请先登录',
  403: '没有权限执行此操作',
  404: '请求的内容不存在',
  409: '操作冲突，请刷新后重试',
  413: '内容过大，请压缩后再试',
  422: '填写的内容有误，请检查后重试',
  429: '操作过于频繁，请稍后再试',
  500: '服务器开小差了，请稍后再试',
  502: '服务暂时不可用，请稍后再试',
  503: '服务暂时不可用，请稍后再试',
  504: '服务响应超时，请稍后再试',
};

const NETWORK_MESSAGE = '网络连接失败，请检查网络后重试';

/** The message to show for a problem answer `{code, message, details}` with HTTP `status`. */
function messageFor(problem, status) {
  const p = problem || {};
  const entry = Object.prototype.hasOwnProperty.call(MESSAGES, p.code) ? MESSAGES[p.code] : undefined;
  if (typeof entry === 'function') return entry(p.details || {});
  if (typeof entry === 'string') return entry;
  if (p.code === 'invalid_request' && Array.isArray(p.errors) && p.errors.length) {
    return p.message || '填写的内容有误，请检查后重试';
  }
  if (typeof p.message === 'string' && p.message) return p.message;
  return BY_STATUS[status] || (status >= 500 ? BY_STATUS[500] : '请求失败，请稍后再试');
}

module.exports = { MESSAGES, BY_STATUS, NETWORK_MESSAGE, messageFor };
