/**
 * The report page's logic, without the WeChat runtime: photos (compressed, uploaded), validation,
 * duplicate suggestions, submitting with an Idempotency-Key, and offline drafts.
 */
const { wgs84ToGcj02 } = require('../utils/coords');

const MAX_PHOTOS = 9;
const MIN_DESCRIPTION = 5;
const MAX_DESCRIPTION = 1000;

function emptyForm() {
  return {
    category: '',
    categoryName: '',
    description: '',
    lng: null,
    lat: null,
    address: '',
    anonymous: false,
  };
}

/** Chinese messages for what is missing; an empty object when the form can be sent. */
function validate(form, photos) {
  const errors = {};
  if (!form.category) errors.category = '请选择问题类别';
  const text = (form.description || '').trim();
  if (text.length < MIN_DESCRIPTION) errors.description = `请描述问题，至少 ${MIN_DESCRIPTION} 个字`;
  else if (text.length > MAX_DESCRIPTION) errors.description = `问题描述最多 ${MAX_DESCRIPTION} 个字`;
  if (form.lng === null || form.lat === null || form.lng === undefined) errors.location = '请确定问题位置';
  if ((photos || []).length > MAX_PHOTOS) errors.photos = `最多上传 ${MAX_PHOTOS} 张照片`;
  return errors;
}

function body(form, uploadIds) {
  return {
    category: form.category,
    description: form.description.trim(),
    lng: form.lng,
    lat: form.lat,
    coord: 'gcj02', // wx.getLocation({type: 'gcj02'}) and the <map> pin
    address: form.address || '',
    upload_ids: uploadIds,
    anonymous: Boolean(form.anonymous),
    channel: 'miniprogram',
  };
}

/** Network gone or server unavailable after the client's retries: worth keeping as a draft. */
function worthKeeping(err) {
  return Boolean(err && (err.offline || err.status === 502 || err.status === 503 || err.status === 504)) &&
    !(err && (err.code === 'grids_not_loaded'));
}

function createReportLogic({ api, wx, drafts }) {
  /** Compresses a photo before upload (falls back to the original when compression fails). */
  function compress(path) {
    return new Promise((resolve) => {
      wx.compressImage({
        src: path,
        quality: 60,
        compressedWidth: 1600,
        success: (r) => resolve(r.tempFilePath),
        fail: () => resolve(path),
      });
    });
  }

  /** Compresses and uploads one chosen photo; offline the photo is kept to upload later. */
  async function addPhoto(tempPath) {
    const path = await compress(tempPath);
    try {
      const answer = await api.upload('upload', path);
      return { path, uploadId: answer.id, exif: answer.exif || null };
    } catch (err) {
      if (err && err.offline) return { path, uploadId: null, exif: null };
      throw err;
    }
  }

  async function duplicates(form) {
    if (!form.category || form.lng === null || form.lat === null) return [];
    return api.call('duplicates', {
      query: { lng: form.lng, lat: form.lat, coord: 'gcj02', category: form.category },
    });
  }

  async function uploadMissing(photos) {
    const out = [];
    for (const p of photos) {
      if (p.uploadId) out.push(p);
      else out.push(Object.assign({}, p, { uploadId: (await api.upload('upload', p.path)).id }));
    }
    return out;
  }

  /**
   * Sends the report. Resolves `{ case }` when filed, `{ draft }` when kept for later (offline);
   * rejects with the ApiError when the API refused it (the user must change something).
   */
  async function submit(form, photos, previous) {
    const errors = validate(form, photos);
    if (Object.keys(errors).length) {
      const err = new Error(errors[Object.keys(errors)[0]]);
      err.fields = errors;
      throw err;
    }
    const draft = {
      id: (previous && previous.id) || api.newKey(),
      idempotencyKey: (previous && previous.idempotencyKey) || api.newKey(),
      form: Object.assign({}, form),
      photos: photos.slice(),
    };
    try {
      draft.photos = await uploadMissing(draft.photos);
      const filed = await api.call('report', {
        body: body(form, draft.photos.map((p) => p.uploadId)),
        idempotencyKey: draft.idempotencyKey,
      });
      if (previous) drafts.remove(previous.id);
      return { case: filed };
    } catch (err) {
      if (worthKeeping(err)) {
        return { draft: drafts.save(draft) };
      }
      throw err;
    }
  }

  /** Sends kept drafts; stops at the first network failure. Resolves with what happened. */
  async function flushDrafts() {
    const result = { sent: [], failed: [], kept: 0 };
    if (!api.isSignedIn()) return result;
    for (const draft of drafts.pending()) {
      try {
        const done = await submit(draft.form, draft.photos, draft);
        if (done.case) result.sent.push(done.case.case_no);
        else {
          result.kept += 1;
          break;
        }
      } catch (err) {
        drafts.save(Object.assign({}, draft, { status: 'failed', error: err.message || '提交失败' }));
        result.failed.push(draft.id);
      }
    }
    return result;
  }

  /** Open public cases near the pin, as map markers (the API answers WGS-84). */
  async function nearby(lng, lat) {
    const cases = await api.call('nearbyReports', { query: { lng, lat, coord: 'gcj02', radius: 300, limit: 20 } });
    return cases.map((c, i) => {
      const p = wgs84ToGcj02(c.lng, c.lat);
      return {
        id: i,
        longitude: p.lng,
        latitude: p.lat,
        width: 20,
        height: 20,
        alpha: 0.8,
        callout: { content: `${c.category}（${c.status}）`, display: 'BYCLICK', padding: 6, borderRadius: 4 },
      };
    });
  }

  async function metoo(caseNo) {
    return api.call('follow', { params: { case_no: caseNo } });
  }

  return { addPhoto, duplicates, nearby, submit, flushDrafts, metoo, compress };
}

module.exports = { createReportLogic, validate, emptyForm, body, worthKeeping, MAX_PHOTOS, MIN_DESCRIPTION };

/** "渝水区·XX街道XX社区" for a point, or '' (and the API's message when the point is outside the city). */
async function placeName(api, lng, lat) {
  try {
    const where = await api.call('locate', { query: { lng, lat, coord: 'gcj02' } });
    return { address: `${where.street.name}${where.community.name}`, error: '' };
  } catch (err) {
    return { address: '', error: err.code === 'outside_service_area' ? err.message : '' };
  }
}

module.exports.placeName = placeName;
