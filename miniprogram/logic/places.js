/** Toilets and parking near the user: nearest first, filters, map markers, navigation. */
const format = require('../utils/format');
const { wgs84ToGcj02 } = require('../utils/coords');

const KINDS = {
  toilet: { label: '公厕' },
  parking: { label: '停车场' },
};

function decorate(place) {
  const gcj = wgs84ToGcj02(place.lng, place.lat); // the API answers WGS-84, WeChat maps use GCJ-02
  const tags = [];
  if (place.open_now === true) tags.push('开放中');
  else if (place.open_now === false) tags.push('未开放');
  if (place.accessible) tags.push('无障碍');
  if (place.baby_room) tags.push('母婴室');
  if (place.ev_charging) tags.push('充电桩');
  if (place.kind === 'parking') tags.push(place.free ? '免费' : place.fee_note || '收费');
  let spaces = '';
  if (place.kind === 'parking') {
    spaces = place.available_spaces === null || place.available_spaces === undefined
      ? '空位未知'
      : `空位 ${place.available_spaces}${place.capacity ? ` / ${place.capacity}` : ''}`;
  }
  return Object.assign({}, place, {
    gcjLng: gcj.lng,
    gcjLat: gcj.lat,
    distanceText: format.distance(place.distance_m),
    tags,
    spaces,
  });
}

function markers(places) {
  return places.map((p, i) => ({
    id: i,
    longitude: p.gcjLng,
    latitude: p.gcjLat,
    title: p.name,
    width: 28,
    height: 28,
    callout: { content: `${p.name} ${p.distanceText}`, display: 'BYCLICK', padding: 6, borderRadius: 4 },
  }));
}

function createPlacesLogic({ api, wx }) {
  async function nearest({ kind, lng, lat, openNow, accessible, limit = 20 }) {
    if (!KINDS[kind]) throw new Error('未知的设施类型');
    const query = { kind, lng, lat, coord: 'gcj02', limit };
    if (openNow) query.open_now = true;
    if (accessible) query.accessible = true;
    const answer = await api.call('places', { query });
    return answer.items.map(decorate);
  }

  function navigate(place) {
    return new Promise((resolve, reject) => {
      wx.openLocation({
        longitude: place.gcjLng,
        latitude: place.gcjLat,
        name: place.name,
        address: place.address,
        scale: 17,
        success: resolve,
        fail: reject,
      });
    });
  }

  return { nearest, navigate };
}

module.exports = { createPlacesLogic, decorate, markers, KINDS };
