/** A case's timeline for the citizen: newest on top, the current step highlighted. */
const format = require('../../utils/format');

Component({
  properties: {
    entries: { type: Array, value: [] },
  },
  data: { rows: [] },
  observers: {
    entries(entries) {
      this.refresh(entries);
    },
  },
  lifetimes: {
    attached() {
      this.refresh(this.data.entries);
    },
  },
  methods: {
    refresh(entries) {
      const rows = (entries || [])
        .map((e) => ({ step: e.step, text: e.text, when: format.time(e.at) }))
        .reverse()
        .map((r, i, all) => Object.assign(r, { current: i === 0, key: all.length - i }));
      this.setData({ rows });
    },
  },
});
