/** Category picker: search minors by name, code, major or register-condition hint; shows the hints. */
const { flatten, search } = require('../../logic/categories');

Component({
  properties: {
    categories: { type: Array, value: [] },
    value: { type: String, value: '' },
  },
  data: { query: '', results: [], selected: null, open: false },
  observers: {
    'categories, value': function (categories, value) {
      this.refresh(categories, value);
    },
  },
  lifetimes: {
    attached() {
      this.refresh(this.data.categories, this.data.value);
    },
  },
  methods: {
    refresh(categories, value) {
      this._flat = flatten(categories);
      const selected = this._flat.find((c) => c.code === value) || null;
      this.setData({ selected, results: search(this._flat, this.data.query) });
    },
    onToggle() {
      this.setData({ open: !this.data.open });
    },
    onInput(e) {
      const query = e.detail.value;
      this.setData({ query, results: search(this._flat || [], query), open: true });
    },
    onClear() {
      this.setData({ query: '', results: search(this._flat || [], '') });
    },
    onPick(e) {
      const code = e.currentTarget.dataset.code;
      const selected = (this._flat || []).find((c) => c.code === code);
      if (!selected) return;
      this.setData({ selected, open: false, query: '' });
      this.triggerEvent('change', { code: selected.code, name: selected.name, hints: selected.hints });
    },
  },
});
