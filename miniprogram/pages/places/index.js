/* global Page, wx */
const { getClient } = require('../../utils/api');
const config = require('../../config');
const { locate } = require('../../logic/location');
const { createPlacesLogic, markers, KINDS } = require('../../logic/places');
const { showError } = require('../../utils/ui');

Page({
  data: { kind: 'toilet', openNow: false, accessible: false, center: config.defaultCenter, places: [], markers: [], loading: true, located: true },

  onLoad(query) {
    this.api = getClient();
    this.logic = createPlacesLogic({ api: this.api, wx });
    const kind = KINDS[query.kind] ? query.kind : 'toilet';
    this.setData({ kind });
    wx.setNavigationBarTitle({ title: `附近${KINDS[kind].label}` });
    locate(wx, config.defaultCenter).then((p) => {
      this.setData({ center: { lng: p.lng, lat: p.lat }, located: p.located });
      this.load();
    });
  },

  async load() {
    this.setData({ loading: true });
    try {
      const places = await this.logic.nearest({
        kind: this.data.kind,
        lng: this.data.center.lng,
        lat: this.data.center.lat,
        openNow: this.data.openNow,
        accessible: this.data.accessible,
      });
      this.setData({ places, markers: markers(places) });
    } catch (err) {
      showError(err);
    }
    this.setData({ loading: false });
  },

  onKind(e) {
    const kind = e.currentTarget.dataset.kind;
    this.setData({ kind, accessible: kind === 'toilet' ? this.data.accessible : false });
    wx.setNavigationBarTitle({ title: `附近${KINDS[kind].label}` });
    this.load();
  },

  onOpenNow(e) {
    this.setData({ openNow: e.detail.value });
    this.load();
  },

  onAccessible(e) {
    this.setData({ accessible: e.detail.value });
    this.load();
  },

  onNavigate(e) {
    this.logic.navigate(this.data.places[e.detail.index]).catch(() => {});
  },

  onMarker(e) {
    const place = this.data.places[e.detail.markerId];
    if (place) this.logic.navigate(place).catch(() => {});
  },

  onSelect(e) {
    const p = this.data.places[e.detail.index];
    this.setData({ center: { lng: p.gcjLng, lat: p.gcjLat } });
  },
});
