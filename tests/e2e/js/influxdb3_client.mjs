// Writes and queries with the official influxdb3-js client, host + token + database only (one port).
// Run by tests/e2e/test_influxdb3_js_e2e.py: node influxdb3_client.mjs URL TOKEN DATABASE
import {InfluxDBClient, Point} from '@influxdata/influxdb3-client'
const client = new InfluxDBClient({host: process.argv[2], token: process.argv[3], database: process.argv[4]})
try {
  await client.write('cpu,host=a usage=1.5 1\ncpu,host=b usage=2.5 2', undefined, {precision: 'ns'})
  const rows = []
  for await (const row of client.query('SELECT host, usage FROM cpu ORDER BY time')) rows.push({host: row.host, usage: row.usage})
  const points = []
  for await (const p of client.queryPoints('SELECT * FROM cpu ORDER BY time')) points.push({tag: p.getTag('host'), field: p.getFloatField('usage')})
  const params = []
  for await (const row of client.query('SELECT host FROM cpu WHERE usage > $min', undefined, {type: 'sql', params: {min: 2}})) params.push(row.host)
  console.log(JSON.stringify({rows, points, params}))
} finally { await client.close() }
