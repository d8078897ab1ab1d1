/**
 * Checks the mini-program's declared calls (utils/endpoints.js) against the backend's OpenAPI
 * document. Returns a list of problems (empty when everything the mini-program uses exists).
 * The same rules are in tests/miniprogram/test_contract.py for `pytest`.
 */

function makeResolver(doc) {
  return function resolve(schema) {
    let s = schema || {};
    for (let guard = 0; guard < 20; guard += 1) {
      if (s.$ref) {
        const name = s.$ref.split('/').pop();
        s = doc.components.schemas[name];
      } else if (s.anyOf || s.oneOf) {
        const variants = (s.anyOf || s.oneOf).filter((v) => v.type !== 'null');
        if (variants.length !== 1) return s;
        s = variants[0];
      } else if (s.allOf && s.allOf.length === 1) {
        s = s.allOf[0];
      } else {
        return s;
      }
    }
    return s;
  };
}

/** Follows "a.b", "a[].b", "[].b" through a schema; returns an error message or ''. */
function checkField(resolve, schema, field) {
  let s = resolve(schema);
  const parts = field.split('.');
  for (const part of parts) {
    const list = part.endsWith('[]');
    const name = list ? part.slice(0, -2) : part;
    if (name) {
      if (!s.properties || !Object.prototype.hasOwnProperty.call(s.properties, name)) {
        return `no field "${name}" (in "${field}")`;
      }
      s = resolve(s.properties[name]);
    }
    if (list) {
      if (s.type !== 'array') return `"${name || field}" is not a list (in "${field}")`;
      s = resolve(s.items);
    }
  }
  return '';
}

function successSchema(op) {
  for (const status of ['200', '201', '204']) {
    const r = op.responses && op.responses[status];
    if (r) {
      const json = r.content && r.content['application/json'];
      return { status, schema: json ? json.schema : null };
    }
  }
  return { status: null, schema: null };
}

function checkEndpoint(doc, name, ep) {
  const problems = [];
  const say = (m) => problems.push(`${name} (${ep.method} ${ep.path}): ${m}`);
  const resolve = makeResolver(doc);
  const item = doc.paths[ep.path];
  const op = item && item[ep.method.toLowerCase()];
  if (!op) {
    say('no such path and method in the API');
    return problems;
  }
  const params = op.parameters || [];
  const find = (where, n) =>
    params.find((p) => p.in === where && (where === 'header' ? p.name.toLowerCase() === n.toLowerCase() : p.name === n));

  const placeholders = (ep.path.match(/\{(\w+)\}/g) || []).map((p) => p.slice(1, -1));
  const declared = ep.params || [];
  if (placeholders.slice().sort().join() !== declared.slice().sort().join()) {
    say(`path parameters ${JSON.stringify(declared)} do not match the path`);
  }
  placeholders.forEach((p) => {
    if (!find('path', p)) say(`path parameter "${p}" unknown to the API`);
  });
  (ep.query || []).forEach((q) => {
    if (!find('query', q)) say(`query parameter "${q}" unknown to the API`);
  });
  params
    .filter((p) => p.in === 'query' && p.required)
    .forEach((p) => {
      if ((ep.query || []).indexOf(p.name) < 0) say(`required query parameter "${p.name}" is not sent`);
    });
  (ep.headers || []).forEach((h) => {
    if (!find('header', h)) say(`header "${h}" unknown to the API`);
  });
  params
    .filter((p) => p.in === 'header' && p.required)
    .forEach((p) => {
      if (!(ep.headers || []).some((h) => h.toLowerCase() === p.name.toLowerCase())) {
        say(`required header "${p.name}" is not sent`);
      }
    });
  if ((ep.headers || []).indexOf('Idempotency-Key') >= 0 && ep.idempotency !== 'required') {
    say('sends Idempotency-Key but does not make one per call (idempotency: "required")');
  }

  const body = op.requestBody;
  const content = (body && body.content) || {};
  if (ep.kind === 'upload') {
    const form = content['multipart/form-data'];
    const schema = form && resolve(form.schema);
    if (!schema || !schema.properties || !schema.properties[ep.file]) say(`no multipart field "${ep.file}"`);
  } else if (ep.freeBody) {
    const schema = content['application/json'] && resolve(content['application/json'].schema);
    if (!schema || schema.type !== 'object' || !schema.additionalProperties) say('the API takes no free JSON object');
  } else if (ep.body) {
    const schema = content['application/json'] && resolve(content['application/json'].schema);
    if (!schema || !schema.properties) say('the API takes no JSON body');
    else {
      ep.body.forEach((f) => {
        if (!schema.properties[f]) say(`body field "${f}" unknown to the API`);
      });
      (schema.required || []).forEach((f) => {
        if (ep.body.indexOf(f) < 0) say(`required body field "${f}" is not sent`);
      });
    }
  } else if (body && body.required) {
    say('the API requires a body that the mini-program does not send');
  }

  if (ep.kind === 'download') {
    const ok = op.responses && op.responses['200'];
    if (!ok) say('no 200 answer to download');
  } else if ((ep.response || []).length) {
    const { status, schema } = successSchema(op);
    if (!status) say('no success answer');
    else if (!schema) say(`the ${status} answer is not JSON`);
    else
      ep.response.forEach((f) => {
        const err = checkField(resolve, schema, f);
        if (err) say(`answer: ${err}`);
      });
  }
  return problems;
}

function checkAll(doc, endpoints) {
  return Object.keys(endpoints).reduce((all, name) => all.concat(checkEndpoint(doc, name, endpoints[name])), []);
}

module.exports = { checkAll, checkEndpoint, checkField, makeResolver };
