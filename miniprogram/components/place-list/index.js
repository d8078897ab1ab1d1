/** Toilets or parking lots, nearest first (items decorated by logic/places.js). */
Component({
  properties: {
    places: { type: Array, value: [] },
    loading: { type: Boolean, value: false },
    emptyText: { type: String, value: '附近没有找到符合条件的设施' },
  },
  methods: {
    onNavigate(e) {
      const index = Number(e.currentTarget.dataset.index);
      this.triggerEvent('navigate', { index, code: this.data.places[index].code });
    },
    onSelect(e) {
      const index = Number(e.currentTarget.dataset.index);
      this.triggerEvent('select', { index, code: this.data.places[index].code });
    },
  },
});
