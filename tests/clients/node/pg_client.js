// node-postgres (`pg`): every case with $n parameters (extended protocol).
const path = require('path');
const { Client } = require(process.env.NODE_PG_MODULE || 'pg');
const spec = require(path.join(__dirname, '..', 'cases.json'));

// Numbers compare by value: "50.0" and "50" agree.
const norm = (json) => json.replace(/"(-?\d+)\.0+"/g, '"$1"');
const text = (v) => (v === null ? null : v instanceof Date ? v.toISOString().slice(0, 10) : String(v));

(async () => {
  let failures = 0;
  const client = new Client({
    host: process.env.TRAIL_PG_HOST || '127.0.0.1',
    port: Number(process.env.TRAIL_PG_PORT),
    user: process.env.TRAIL_PG_USER || 'trail',
    password: process.env.PGPASSWORD || '',
    database: 'trail',
  });
  await client.connect();
  for (const c of spec.cases) {
    try {
      const res = await client.query({ text: c.sql, values: c.params || [], rowMode: 'array' });
      const got = JSON.stringify(res.rows.map((r) => r.map(text)));
      const want = JSON.stringify(c.expect);
      if (norm(got) === norm(want)) console.log(`ok   node ${c.name}`);
      else { failures++; console.log(`FAIL node ${c.name}: got ${got}, expected ${want}`); }
    } catch (e) { failures++; console.log(`FAIL node ${c.name}: ${e.message}`); }
  }
  await client.end();
  process.exit(failures ? 1 : 0);
})();
