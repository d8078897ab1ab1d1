/** My cases, the cases I follow, and one case's detail (timeline, photos, reply, rating). */
const format = require('../utils/format');

const STATUS_CLASS = {
  已受理: 'accepted',
  已立案: 'registered',
  处置中: 'working',
  已办结: 'closed',
  不予立案: 'voided',
  已合并办理: 'merged',
};

function summary(item) {
  return Object.assign({}, item, {
    statusClass: STATUS_CLASS[item.status] || 'accepted',
    when: format.time(item.reported_at),
  });
}

function createCasesLogic({ api }) {
  async function page(which, offset = 0, limit = 20) {
    const answer = await api.call(which === 'following' ? 'following' : 'myReports', { query: { limit, offset } });
    const items = answer.items.map(summary);
    return { items, total: answer.total, more: offset + items.length < answer.total };
  }

  async function detail(caseNo) {
    return view(await api.call('caseDetail', { params: { case_no: caseNo } }));
  }

  /** Downloads the photos (thumbnails here, display copies on preview) with the bearer token. */
  async function photoPaths(uploadIds, variant = 'thumb') {
    const out = [];
    for (const id of uploadIds) {
      try {
        out.push(await api.download('photo', { params: { upload_id: id, variant } }));
      } catch (e) {
        out.push(''); // a photo still being processed: leave its slot empty
      }
    }
    return out;
  }

  async function rate(caseNo, stars, comment) {
    if (!(stars >= 1 && stars <= 5)) throw new Error('请选择 1 到 5 星');
    const text = String(comment || '').trim();
    if (text.length > 500) throw new Error('评价内容最多 500 个字');
    return view(await api.call('rate', { params: { case_no: caseNo }, body: { stars, comment: text } }));
  }

  async function unfollow(caseNo) {
    await api.call('unfollow', { params: { case_no: caseNo } });
  }

  return { page, detail, photoPaths, rate, unfollow };
}

function view(c) {
  const timeline = (c.timeline || []).map((t) => ({ at: t.at, step: t.step, text: t.text }));
  return Object.assign({}, summary(c), {
    timeline,
    reportPhotoIds: (c.report_photos || []).map((p) => p.upload_id),
    handlingPhotoIds: (c.handling_photos || []).map((p) => p.upload_id),
    rated: c.rating !== null && c.rating !== undefined,
  });
}

module.exports = { createCasesLogic, summary, view, STATUS_CLASS };
